package plaid.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import plaid.backend.Collective;
import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.options.PlaidConfig;

/**
 * The original's optimisation (plaid-reference §4): AdamW with µP learning rates per
 * module and decoupled weight decay, the 10-zero-step + warm-up + linear-decay schedule,
 * clipping at a quantile of recent gradient norms, weight EMA and decay-to-init.
 */
public final class Optimizer {
    private static final int NORM_HISTORY = 1000;
    private static final float ADAM_EPS = 1e-8f;

    private final PlaidParameters params;
    private final PlaidConfig c;
    private final ComputeBackend be;
    private final List<Tensor> firstMoments = new ArrayList<>();
    private final List<Tensor> secondMoments = new ArrayList<>();
    private final double[] previousGradNorms = new double[NORM_HISTORY];
    private List<float[]> emaValues;
    private List<float[]> initValues;
    private int adamSteps;
    private int firstStep;
    /** ZeRO-1 ({@link #shard}): each parameter's owning rank in {@link #group}; null when not sharded. */
    private int[] owners;

    private Collective group;

    public Optimizer(PlaidConfig config, PlaidParameters params, int firstStep) {
        this.params = params;
        this.c = config;
        this.be = params.backend();
        this.firstStep = firstStep;
        for (Parameter p : params.all()) {
            firstMoments.add(be.allocate(p.shape()));
            secondMoments.add(be.allocate(p.shape()));
        }
        Arrays.fill(previousGradNorms, 1e8);
        if (c.ema > 0) emaValues = params.snapshotValues();
        if (c.decayToInit > 0) initValues = params.snapshotValues();
    }

    /**
     * ZeRO-1, as train.py's ZeroRedundancyOptimizer: this rank keeps the AdamW moments of the
     * parameters it owns ({@code owners[i]} is parameter i's rank in {@code group}) and releases
     * the others'; a step updates the owned parameters, then each is broadcast from its owner,
     * so every replica ends with the same values as an unsharded step (the same arithmetic on
     * the same gradients, on one rank instead of all). Every rank of the group must shard alike,
     * before its first step or restore.
     */
    public void shard(Collective group, int[] owners) {
        if (owners.length != firstMoments.size())
            throw new IllegalArgumentException(owners.length + " owners for " + firstMoments.size() + " parameters");
        for (int i = 0; i < owners.length; i++)
            if (owners[i] < 0 || owners[i] >= group.ranks())
                throw new IllegalArgumentException(
                        "parameter " + i + " owned by rank " + owners[i] + " of " + group.ranks());
        for (int i = 0; i < owners.length; i++) {
            if (owners[i] != group.rank()) {
                firstMoments.set(i, null);
                secondMoments.set(i, null);
            }
        }
        this.owners = owners.clone();
        this.group = group;
    }

    /** Elements of the AdamW moments this rank holds (both moments): all of them unless sharded. */
    public long momentElements() {
        long n = 0;
        for (int i = 0; i < firstMoments.size(); i++)
            if (owns(i)) n += 2 * firstMoments.get(i).numel();
        return n;
    }

    private boolean owns(int i) {
        return owners == null || owners[i] == group.rank();
    }

    /**
     * The learning-rate factor f(step) of lib/utils.train_loop, with the fork's cosine
     * option: after warm-up, 1 − progress (linear) or ½(1 + cos(π·progress)), progress
     * running over {@link PlaidConfig#lrScheduleSteps()}.
     */
    public double lrFactor(int step) {
        if (step - firstStep < 10) return 0.0; // zero LR while Adam's moments warm up
        if (step < c.lrWarmupSteps) return (double) step / c.lrWarmupSteps;
        if (!c.lrDecay) return 1.0;
        double progress = (double) (step - c.lrWarmupSteps) / (1e-8 + c.lrScheduleSteps() - c.lrWarmupSteps);
        return "cosine".equals(c.lrScheduler) ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1.0 - progress;
    }

    /** Group learning rate with µP's 1/width_mult for matrix-like weights. */
    double baseLearningRate(Parameter p) {
        double lr = p.group().learningRate(c);
        return p.matrixLike() ? lr / c.widthMult() : lr;
    }

    /** Threshold = linearly interpolated quantile of the last 1000 gradient norms. */
    double clipThreshold() {
        double[] sorted = previousGradNorms.clone();
        Arrays.sort(sorted);
        double pos = c.clipQuantile * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    /**
     * Clips, steps every parameter and runs the per-step hooks (decay-to-init, EMA).
     * Returns the gradient norm before clipping.
     *
     * @throws TrainingDivergedException when the gradient norm is not finite, before anything changes
     */
    public double step(int step) {
        List<Tensor> grads = params.all().stream().map(Parameter::grad).toList();
        double sumSq = 0; // the parameters' terms added in their order, as one sumOfSquares each gave them
        for (double s : be.sumsOfSquares(grads)) sumSq += s;
        double gradNorm = Math.sqrt(sumSq);
        // Clipping cannot rescue a NaN or infinite gradient (its scale would be 0 or NaN): stop
        // here, so the weights, moments and norm history stay as the last good step left them.
        TrainingDivergedException.requireFinite(step, "grad_norm", gradNorm);
        double threshold = clipThreshold();
        double clip = threshold / (gradNorm + 1e-6);
        if (clip < 1) for (Parameter p : params.all()) be.scale(p.grad(), (float) clip);
        previousGradNorms[step % NORM_HISTORY] = gradNorm;

        adamSteps++;
        List<Parameter> all = params.all();
        List<ComputeBackend.AdamWTensors> tensors = new ArrayList<>(all.size());
        double[] lrScale = new double[all.size()], decayPerLr = new double[all.size()];
        int owned = 0; // under ZeRO-1 a rank steps only the parameters it owns
        for (int i = 0; i < all.size(); i++) {
            if (!owns(i)) continue;
            Parameter p = all.get(i);
            tensors.add(
                    new ComputeBackend.AdamWTensors(p.value(), p.grad(), firstMoments.get(i), secondMoments.get(i)));
            // parameter i steps with lr = baseLr·f and decay = lr·wd': train.py stores weight_decay/(lr + 1e-16) as
            // wd', so that lr·wd' is the module's decay
            lrScale[owned] = baseLearningRate(p);
            decayPerLr[owned] = p.group().weightDecay(c) / (lrScale[owned] + 1e-16);
            owned++;
        }
        be.adamW(
                tensors,
                Arrays.copyOf(lrScale, owned),
                Arrays.copyOf(decayPerLr, owned),
                lrFactor(step),
                (float) c.beta1,
                (float) c.beta2,
                ADAM_EPS,
                adamSteps);
        if (owners != null)
            for (int i = 0; i < all.size(); i++) group.broadcast(all.get(i).value(), owners[i]);
        applyHooks(step);
        return gradNorm;
    }

    private void applyHooks(int step) {
        List<Parameter> all = params.all();
        if (initValues != null) {
            double d = c.decayToInit * (1 - (double) step / c.steps);
            for (int i = 0; i < all.size(); i++) {
                float[] v = be.download(all.get(i).value()), init = initValues.get(i);
                for (int k = 0; k < v.length; k++) v[k] = (float) (v[k] * (1 - d) + d * init[k]);
                be.upload(v, all.get(i).value());
            }
        }
        if (emaValues != null) {
            for (int i = 0; i < all.size(); i++) {
                float[] v = be.download(all.get(i).value()), e = emaValues.get(i);
                for (int k = 0; k < v.length; k++) e[k] = (float) (e[k] * c.ema + (1 - c.ema) * v[k]);
            }
        }
    }

    /** The weights to evaluate and save: the EMA when on, else the live values. */
    public List<float[]> weightsForEvaluation() {
        return emaValues != null ? emaValues : params.snapshotValues();
    }

    public boolean hasEma() {
        return emaValues != null;
    }

    // ---- state for exact resumption -------------------------------------------------

    /** Everything besides the parameters that the next step depends on. */
    public record State(
            int firstStep,
            int adamSteps,
            double[] previousGradNorms,
            List<float[]> firstMoments,
            List<float[]> secondMoments,
            List<float[]> emaValues,
            List<float[]> initValues) {}

    /** The run (re)starts at {@code step} with this state: the zero-LR warm-up begins again. */
    public void restartAt(int step) {
        firstStep = step;
    }

    /** The state; when sharded ({@link #shard}) only through {@link #gatheredState}, on every rank. */
    public State state() {
        if (owners != null)
            throw new IllegalStateException("the AdamW moments are sharded (ZeRO-1): gather them on every rank");
        return stateWith(
                firstMoments.stream().map(be::download).toList(),
                secondMoments.stream().map(be::download).toList());
    }

    /**
     * The whole state of a sharded optimiser, each moment broadcast from its owner: a collective
     * every rank of the group calls; returns it where {@code keep}, else null (the others only send).
     */
    public State gatheredState(boolean keep) {
        if (owners == null) return keep ? state() : null;
        List<float[]> first = new ArrayList<>(), second = new ArrayList<>();
        for (int i = 0; i < owners.length; i++) {
            first.add(gather(firstMoments, i, keep));
            second.add(gather(secondMoments, i, keep));
        }
        return keep ? stateWith(first, second) : null;
    }

    /** Moment i from its owner: the owner sends its tensor, the others receive into a temporary one. */
    private float[] gather(List<Tensor> moments, int i, boolean keep) {
        Tensor t = owns(i) ? moments.get(i) : be.allocate(params.all().get(i).shape());
        group.broadcast(t, owners[i]);
        return keep ? be.download(t) : null;
    }

    private State stateWith(List<float[]> first, List<float[]> second) {
        return new State(
                firstStep,
                adamSteps,
                previousGradNorms.clone(),
                first,
                second,
                emaValues == null
                        ? null
                        : emaValues.stream().map(float[]::clone).toList(),
                initValues == null
                        ? null
                        : initValues.stream().map(float[]::clone).toList());
    }

    public void restore(State s) {
        firstStep = s.firstStep();
        adamSteps = s.adamSteps();
        System.arraycopy(s.previousGradNorms(), 0, previousGradNorms, 0, NORM_HISTORY);
        for (int i = 0; i < firstMoments.size(); i++) {
            if (!owns(i)) continue;
            be.upload(s.firstMoments().get(i), firstMoments.get(i));
            be.upload(s.secondMoments().get(i), secondMoments.get(i));
        }
        if (emaValues != null && s.emaValues() != null)
            emaValues = s.emaValues().stream().map(float[]::clone).toList();
        if (initValues != null && s.initValues() != null)
            initValues = s.initValues().stream().map(float[]::clone).toList();
    }
}

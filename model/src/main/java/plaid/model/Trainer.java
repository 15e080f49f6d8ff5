package plaid.model;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import plaid.backend.Segments;
import plaid.options.PlaidConfig;

/**
 * lib/utils.train_loop with train.py's forward: one optimiser step = grad_accum_steps
 * micro-batches with the original's randomness (drawn from a {@link RandomSource}),
 * quantile clipping, AdamW and the per-step hooks.
 */
public final class Trainer {
    /** Where token batches come from: {@code rows × seqLen} ids, row-major. */
    @FunctionalInterface
    public interface BatchSource {
        int[] next(int rows, int seqLen);
    }

    /** What one optimiser step reports (averages over its micro-batches). */
    public record StepMetrics(
            int step,
            double loss,
            double nll,
            double reconst,
            double prior,
            double gamma0,
            double gamma1,
            int reconstBs,
            double gradNorm,
            double lrFactor,
            double seconds) {}

    private final PlaidParameters params;
    private final PlaidConfig c;
    private final RandomSource random;
    private final BatchSource batches;
    private final DiffusionObjective objective;
    private final Optimizer optimizer;
    private final ReconstBatchSize reconstBatchSize;

    public Trainer(
            PlaidConfig config, PlaidParameters params, RandomSource random, BatchSource batches, int firstStep) {
        this.params = params;
        this.c = config;
        this.random = random;
        this.batches = batches;
        this.objective = new DiffusionObjective(config, params);
        this.optimizer = new Optimizer(config, params, firstStep);
        this.reconstBatchSize = new ReconstBatchSize(c.reconstBsEma);
    }

    public PlaidParameters parameters() {
        return params;
    }

    /** The options the model was built with: its shape, the objective's and the optimiser's. */
    public PlaidConfig config() {
        return c;
    }

    public Optimizer optimizer() {
        return optimizer;
    }

    public ReconstBatchSize reconstBatchSize() {
        return reconstBatchSize;
    }

    public DiffusionObjective objective() {
        return objective;
    }

    /**
     * Runs optimiser step {@code step} (0-based, as the original counts).
     *
     * @throws TrainingDivergedException when a loss term or the gradient norm is not finite;
     *     the weights and the optimiser's state are then left as the step before left them
     */
    public StepMetrics step(int step) {
        long start = System.nanoTime();
        return finish(step, accumulate(draw(step), 0, 1), start);
    }

    /**
     * One micro-step's data and randomness for the whole global micro-batch ({@code batch_size}
     * rows, what one rank sees alone); data-parallel ranks each take a contiguous slice.
     */
    public record MicroDraw(int[] tokens, double[] t, float[] selfcondMask, float[] eps, Segments segments) {}

    /** A step's draws: R over the global batch (batch_size × grad_accum_steps rows) and every micro-step's. */
    public record StepDraw(int step, int reconstBs, double biasScale, List<MicroDraw> micros) {}

    /** One rank's loss terms over its micro-batches (each already divided by grad_accum_steps). */
    public record Sums(
            double loss, double nll, double reconst, double prior, int reconstRows, double gamma0, double gamma1) {}

    /**
     * Draws step {@code step}'s tokens and randomness for the global batch, in the order the
     * one-device loop draws them: R from the running statistics, t by the low-discrepancy
     * sampler, and per micro-step the tokens, self-conditioning mask, ε and split rows.
     */
    public StepDraw draw(int step) {
        int accum = c.gradAccumSteps, rows = c.batchSize, fullBatch = rows * accum, seqLen = c.seqLen;
        int reconstBs = reconstBatchSize.forBatch(fullBatch);
        double[] tFull = DiffusionObjective.lowDiscrepancyTimes(
                fullBatch, reconstBs, random.stream("t", step, 0).nextDouble());

        int shortSeqInterval = c.nShortSeqs > 0 ? Math.max(accum / c.nShortSeqs, 1) : 0;
        int shortSeqOffset =
                shortSeqInterval > 0 ? random.stream("short-seq-step", step, 0).nextInt(shortSeqInterval) : -1;
        int shortSeqsPerMicro = shortSeqInterval > 0 ? c.nShortSeqs * shortSeqInterval / accum : 0;
        double biasScale = Math.min(1.0, (step + 1e-8) / (c.biasWarmupSteps + 1e-8));
        List<MicroDraw> micros = new java.util.ArrayList<>();
        for (int micro = 0; micro < accum; micro++) {
            int[] tokens = batches.next(rows, seqLen);
            float[] maskFull = new float[fullBatch];
            if (c.selfcond) {
                for (int i = random.stream("selfcond", step, micro).nextInt(4); i < fullBatch; i += 4) maskFull[i] = 1f;
            }
            double[] t = Arrays.copyOfRange(tFull, micro * rows, (micro + 1) * rows);
            float[] mask = Arrays.copyOfRange(maskFull, micro * rows, (micro + 1) * rows);
            float[] eps = DiffusionObjective.gaussian(random.stream("eps", step, micro), rows * seqLen * c.embedDim);
            Segments segments = Segments.whole(rows, seqLen);
            if (shortSeqsPerMicro > 0 && micro % shortSeqInterval == shortSeqOffset) {
                segments = splitRows(random.stream("short-seq-rows", step, micro), rows, seqLen, shortSeqsPerMicro);
            }
            micros.add(new MicroDraw(tokens, t, mask, eps, segments));
        }
        return new StepDraw(step, reconstBs, biasScale, micros);
    }

    /**
     * Forward and backward of rank {@code rank}'s slice (rows [rank·B/ranks, (rank+1)·B/ranks) of
     * every micro-step) into zeroed gradients, folding each micro-batch into the reconst_bs
     * statistics. Normalised as train.py normalises one of its world×accum chunks: avg R is
     * R/(accum·ranks), the gradient scale 1/accum, so the mean over ranks is the one-rank value.
     */
    public Sums accumulate(StepDraw draw, int rank, int ranks) {
        int accum = c.gradAccumSteps, seqLen = c.seqLen, perRow = seqLen * c.embedDim;
        if (c.batchSize % ranks != 0)
            throw new IllegalArgumentException(
                    "batch_size " + c.batchSize + " is not divisible by " + ranks + " ranks");
        int rows = c.batchSize / ranks, lo = rank * rows, hi = lo + rows;
        double avgReconst = (double) draw.reconstBs() / (accum * ranks);
        double loss = 0, nll = 0, reconst = 0, prior = 0;
        int reconstRows = 0;
        DiffusionObjective.Result last = null;
        params.zeroGrads();
        for (MicroDraw d : draw.micros()) {
            boolean whole = ranks == 1;
            double[] t = whole ? d.t() : Arrays.copyOfRange(d.t(), lo, hi);
            int microReconst = (int) Arrays.stream(t).filter(x -> x == 0.0).count();
            var mb = new DiffusionObjective.MicroBatch(
                    whole ? d.tokens() : Arrays.copyOfRange(d.tokens(), lo * seqLen, hi * seqLen),
                    seqLen,
                    t,
                    whole ? d.selfcondMask() : Arrays.copyOfRange(d.selfcondMask(), lo, hi),
                    whole ? d.eps() : Arrays.copyOfRange(d.eps(), lo * perRow, hi * perRow),
                    whole
                            ? d.segments()
                            : d.segments()
                                    .select(java.util.stream.IntStream.range(lo, hi)
                                            .toArray()),
                    microReconst,
                    avgReconst,
                    draw.biasScale(),
                    c.selfcond ? 0.25 : 0.0,
                    1.0 / accum);
            last = objective.evaluate(mb, true);
            reconstBatchSize.update(last, c.reconstWeight, avgReconst, rows);
            loss += last.loss() / accum;
            nll += last.nll() / accum;
            reconst += last.reconstTerm() / accum;
            prior += last.prior() / accum;
            reconstRows += microReconst;
        }
        return new Sums(loss, nll, reconst, prior, reconstRows, last.gamma0(), last.gamma1());
    }

    /**
     * Ends step {@code step} with the gradients in place (all-reduced, when data-parallel):
     * refuses a non-finite term, then clips and steps the optimiser.
     */
    public StepMetrics finish(int step, Sums s, long startNanos) {
        // The terms first, so that the message names the one that went non-finite, not their sum.
        TrainingDivergedException.requireFinite(step, "gamma_0", s.gamma0());
        TrainingDivergedException.requireFinite(step, "gamma_1", s.gamma1());
        TrainingDivergedException.requireFinite(step, "reconst", s.reconst());
        TrainingDivergedException.requireFinite(step, "prior", s.prior());
        TrainingDivergedException.requireFinite(step, "nll", s.nll());
        TrainingDivergedException.requireFinite(step, "loss", s.loss());
        double gradNorm = optimizer.step(step);
        return new StepMetrics(
                step,
                s.loss(),
                s.nll(),
                s.reconst(),
                s.prior(),
                s.gamma0(),
                s.gamma1(),
                s.reconstRows(),
                gradNorm,
                optimizer.lrFactor(step),
                (System.nanoTime() - startNanos) / 1e9);
    }

    /**
     * The first parameter (live, or its EMA when EMA is on) holding a NaN or infinite value,
     * by its state-dict name; empty when every weight is finite. What a checkpoint would save.
     */
    public java.util.Optional<String> nonFiniteWeight() {
        List<Parameter> all = params.all();
        List<float[]> ema = optimizer.hasEma() ? optimizer.weightsForEvaluation() : null;
        for (int i = 0; i < all.size(); i++) {
            Parameter p = all.get(i);
            if (!allFinite(params.backend().download(p.value())))
                return java.util.Optional.of(p.group().fileStem() + "." + p.name());
            if (ema != null && !allFinite(ema.get(i)))
                return java.util.Optional.of("ema " + p.group().fileStem() + "." + p.name());
        }
        return java.util.Optional.empty();
    }

    private static boolean allFinite(float[] values) {
        for (float v : values) if (!Float.isFinite(v)) return false;
        return true;
    }

    /** {@code count} random rows each cut at a random length l ∈ [1, S−1] into (l, S−l). */
    static Segments splitRows(SplittableRandom rng, int rows, int seqLen, int count) {
        int[] order = java.util.stream.IntStream.range(0, rows).toArray();
        for (int i = rows - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        int[][] lengths = new int[rows][];
        for (int b = 0; b < rows; b++) lengths[b] = new int[] {seqLen};
        for (int k = 0; k < Math.min(count, rows); k++) {
            int len = 1 + rng.nextInt(seqLen - 1);
            lengths[order[k]] = new int[] {len, seqLen - len};
        }
        return Segments.ofLengths(seqLen, lengths);
    }

    /**
     * Validation NLL per token (nats) over {@code steps} batches in eval mode, with the EMA
     * weights when EMA is on (train.py's compute_nll).
     */
    public double validationNll(BatchSource val, int steps, int batchSize, long evalSeed) {
        return validationNll(val, steps, batchSize, evalSeed, done -> {});
    }

    /**
     * {@link #validationNll(BatchSource, int, int, long)}, telling {@code afterBatch} the batches
     * done after each one; an exception it throws ends the pass (the live weights restored).
     */
    public double validationNll(
            BatchSource val, int steps, int batchSize, long evalSeed, java.util.function.IntConsumer afterBatch) {
        List<float[]> live = loadEvaluationWeights();
        try {
            SplittableRandom rng = new SplittableRandom(evalSeed);
            double totalNll = 0;
            long totalTokens = 0;
            for (int i = 0; i < steps; i++) {
                int[] tokens = val.next(batchSize, c.seqLen);
                var mb = DiffusionObjective.evalMicroBatch(tokens, batchSize, c.seqLen, c.embedDim, rng);
                totalNll += validationNllSum(mb);
                totalTokens += tokens.length;
                afterBatch.accept(i + 1);
            }
            return totalNll / totalTokens;
        } finally {
            restoreWeights(live);
        }
    }

    /** One validation batch's NLL summed over its tokens (nats), in eval mode with the weights loaded now. */
    public double validationNllSum(DiffusionObjective.MicroBatch batch) {
        return objective.evaluate(batch, false).nll() * batch.tokens().length;
    }

    /**
     * Loads the weights validation uses (the EMA's when EMA is on) and returns the live ones for
     * {@link #restoreWeights}; null when validation uses the live weights.
     */
    public List<float[]> loadEvaluationWeights() {
        if (!optimizer.hasEma()) return null;
        List<float[]> live = params.snapshotValues();
        loadValues(optimizer.weightsForEvaluation());
        return live;
    }

    /** Puts back what {@link #loadEvaluationWeights} returned. */
    public void restoreWeights(List<float[]> live) {
        if (live != null) loadValues(live);
    }

    private void loadValues(List<float[]> values) {
        List<Parameter> all = params.all();
        for (int i = 0; i < all.size(); i++)
            params.backend().upload(values.get(i), all.get(i).value());
    }
}

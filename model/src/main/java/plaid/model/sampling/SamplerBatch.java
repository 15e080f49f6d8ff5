package plaid.model.sampling;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import plaid.backend.ComputeBackend;
import plaid.backend.MatmulPrecision;
import plaid.backend.Segments;
import plaid.backend.StepGraph;
import plaid.backend.Tensor;
import plaid.model.Denoiser;
import plaid.model.NoiseSchedule;
import plaid.model.Parameter;
import plaid.model.PlaidParameters;
import plaid.model.TrainingMemory;
import plaid.model.head.HeadChunks;
import plaid.options.PlaidConfig;
import plaid.options.bow.BowTransform;
import plaid.options.bow.DiffusionMode;

/**
 * Step-level batching of sample.py's loop: {@link #step} moves every given {@link Trajectory}
 * one step (or takes its final argmax), whatever its steps, score_temp, update rule, guidance
 * or seed. Every row of a Plaid forward carries its own γ, so rows at different t share one
 * forward; the rows are grouped into lanes that need a forward of their own: by seq_len, by
 * which logits they read, and by whether a guidance backward follows (so the backward runs only
 * over the guided rows). A lane's model call is the same work every step, which the backend may record
 * once and replay ({@link StepGraph}). Not thread-safe: one step at a time, inside {@link #session}.
 */
public final class SamplerBatch {
    private final PlaidParameters params;
    private final ComputeBackend be;
    private final PlaidConfig config;
    private final int maxSeqLen;
    private final Tensor embedding;
    private final NoiseSchedule schedule;
    private final double gamma0, gamma1;
    private final BowTransform reconstToBow;
    private final List<Tensor> weights;
    /** Each lane's model call, reused while its row count stays the same. */
    private final Map<Lane, ModelCall> calls = new HashMap<>();
    /** Replays of the step graphs of model calls no longer in use. */
    private long retiredReplays;
    /** The latest fallback of such a call's step graph ({@link StepGraph#lastFallback}), or null. */
    private String retiredFallback;

    private GuidanceGradient guidance;

    /** Which rows can share a forward. */
    private record Lane(int seqLen, boolean secondaryLogits, boolean guided) {}

    /** @param maxSeqLen the longest seq_len a trajectory may have (memory grows with rows·S·V) */
    public SamplerBatch(PlaidConfig config, PlaidParameters params, int maxSeqLen) {
        if (maxSeqLen <= 0) throw new IllegalArgumentException("maxSeqLen must be positive, got " + maxSeqLen);
        this.params = params;
        this.be = params.backend();
        this.config = config;
        this.maxSeqLen = maxSeqLen;
        // the weights as they are now: Ê, the schedule and γ's bounds (float32 parameters, used in float64)
        this.embedding = be.allocate(config.vocabSize, config.embedDim);
        be.upload(params.normalizedEmbedding(), embedding);
        this.schedule = params.noiseSchedule();
        double[] bounds = params.gammaBounds();
        this.gamma0 = bounds[0];
        this.gamma1 = bounds[1];
        this.reconstToBow = config.diffusionMode().convertsReconstToBow() ? config.bowTransform() : null;
        this.weights = params.all().stream().map(Parameter::value).toList();
    }

    /** A trajectory for {@code request} drawing from {@code noise}; checked against the model. */
    public Trajectory start(
            SamplingRequest request, NoiseSource noise, int decodeEvery, PartialDecodeListener listener) {
        request.validateFor(config.vocabSize, maxSeqLen);
        if (request.useSecondaryLogits() && !config.diffusionMode().contains(DiffusionMode.Word.DOUBLE_LOGIT_REG))
            throw new IllegalArgumentException("use_secondary_logits needs diffusion_mode double_logit_reg; "
                    + config.diffusionMode() + " has one set of logits");
        return new Trajectory(request, noise, config.embedDim, decodeEvery, listener);
    }

    /**
     * Runs {@code body} the way the sampler's steps must run: matrix products in TF32, as sample.py
     * sets them, and the weights read-only (a backend may keep derived copies of them meanwhile).
     */
    public <T> T session(Supplier<T> body) {
        return MatmulPrecision.withTf32(() -> be.withReadOnly(weights, body));
    }

    /** One step of every unfinished trajectory given: its forward, guidance, partial decode and update, or its final argmax. */
    public void step(Collection<Trajectory> trajectories) {
        Map<Lane, List<Trajectory>> lanes = new LinkedHashMap<>();
        for (Trajectory t : trajectories) {
            if (t.finished()) continue;
            lanes.computeIfAbsent(
                            new Lane(t.request.seqLen(), t.request.useSecondaryLogits(), t.guidedNow()),
                            k -> new ArrayList<>())
                    .add(t);
        }
        for (var lane : lanes.entrySet()) step(lane.getKey(), lane.getValue());
    }

    private void step(Lane lane, List<Trajectory> members) {
        int rows = members.stream().mapToInt(Trajectory::rows).sum();
        ModelCall call = calls.get(lane);
        if (call == null || call.denoiser.rows() != rows) {
            if (call != null) {
                retiredReplays += call.graph.replays();
                retiredFallback = call.graph.lastFallback().orElse(retiredFallback);
            }
            // the old call's activations are unreachable before the new ones are allocated, so a device backend that
            // frees unreachable memory to make room can free them (rows × seq_len × V logits each)
            calls.remove(lane);
            call = null;
            calls.put(lane, call = new ModelCall(lane, rows));
        }
        call.queue(members, lane.guided);
        // drawn while a device backend runs the forward just queued
        for (Trajectory t : members) t.drawStepNoise();
        boolean anyMoves = members.stream().anyMatch(t -> !t.atFinalCall());
        float[] xModel = anyMoves ? call.reconst() : null;
        float[] guidanceGrad = null;
        if (lane.guided) {
            if (guidance == null) guidance = new GuidanceGradient(be, config.vocabSize, config.embedDim);
            List<GuidanceGradient.RowTerms> terms = new ArrayList<>();
            int row = 0;
            for (Trajectory t : members) {
                terms.add(new GuidanceGradient.RowTerms(row, t.rows(), t.request.guidance()));
                row += t.rows();
            }
            guidanceGrad = guidance.computeByRows(call.denoiser, terms);
        }
        int row = 0, perRow = lane.seqLen * config.embedDim;
        for (Trajectory t : members) {
            int offset = row * perRow;
            if (t.atFinalCall()) {
                t.finish(call.argmax(row, t.rows()));
            } else {
                System.arraycopy(xModel, offset, t.selfCond, 0, t.selfCond.length);
                if (t.wantsDecodeAfterStep()) t.partialDecode(call.argmax(row, t.rows()));
                update(t, xModel, guidanceGrad, offset);
                t.advance();
            }
            row += t.rows();
        }
    }

    /** How many model calls replayed a recorded step ({@link StepGraph#replays}): 0 on a backend that records none. */
    long stepGraphReplays() {
        return retiredReplays
                + calls.values().stream().mapToLong(c -> c.graph.replays()).sum();
    }

    /** Why model calls last ran directly instead of replaying ({@link StepGraph#lastFallback}), for tests' messages. */
    java.util.List<String> stepGraphFallbacks() {
        return java.util.stream.Stream.concat(
                        java.util.stream.Stream.ofNullable(retiredFallback),
                        calls.values().stream().flatMap(c -> c.graph.lastFallback().stream()))
                .toList();
    }

    private double gamma(double t) {
        return gamma0 + (gamma1 - gamma0) * schedule.gammaTilde(t);
    }

    /** VDM eq. 33 (ancestral) or DDIM from t to s for one trajectory's rows, at {@code offset} in the lane's x̂. */
    private void update(Trajectory traj, float[] xModel, float[] guidanceGrad, int offset) {
        SamplingRequest request = traj.request;
        double t = traj.t(), s = traj.s();
        double gammaS = gamma(s), gammaT = gamma(t);
        double alphaSquaredS = sigmoid(-gammaS), alphaS = Math.sqrt(alphaSquaredS), sigmaS = Math.sqrt(sigmoid(gammaS));
        double alphaT = Math.sqrt(sigmoid(-gammaT)), sigmaSquaredT = sigmoid(gammaT), sigmaT = Math.sqrt(sigmaSquaredT);
        boolean move = t > 0;
        boolean ancestral = request.update() == SamplingRequest.Update.ANCESTRAL;
        double c = -Math.expm1(gammaS - gammaT);
        double keep = (1 - c) * alphaS / alphaT, noiseStd = Math.sqrt(c * (1 - alphaSquaredS));
        double[] z = traj.z, stepNoise = traj.stepNoise;
        for (int k = 0; k < z.length; k++) {
            // ε̂ from x̂, tempered, and x̂ recomputed from it (the operations in sample.py's order)
            double x = xModel[offset + k];
            double eps = (z[k] - alphaT * x) / sigmaT / request.scoreTemp();
            x = (z[k] - sigmaT * eps) / alphaT;
            if (guidanceGrad != null) {
                x += guidanceGrad[offset + k] * sigmaSquaredT / alphaT;
                eps = (z[k] - alphaT * x) / sigmaT;
            }
            if (!move) continue;
            if (ancestral) {
                double zk = z[k] * keep;
                zk += c * (alphaS * x);
                z[k] = zk + noiseStd * stepNoise[k];
            } else {
                z[k] = alphaS * x + sigmaS * eps;
            }
        }
    }

    /** The denoiser of one lane with sample.py's fixed arguments: bias scale 1, every row on the self-conditioning path. */
    private final class ModelCall {
        final Denoiser denoiser;
        final Tensor z;
        final Tensor xSelfcond;
        final Segments segments;
        /** The uploads and the forward, the same work on the same tensors each step. */
        final StepGraph graph = be.stepGraph();

        ModelCall(Lane lane, int rows) {
            long tokens = (long) rows * lane.seqLen;
            // exact either way: blocks that recompute run their forward again in a guidance backward
            this.denoiser = new Denoiser(
                    config,
                    params,
                    rows,
                    lane.seqLen,
                    lane.secondaryLogits,
                    HeadChunks.OFF,
                    TrainingMemory.autoRecomputedBlocks(be, config, tokens));
            this.z = be.allocate(rows * lane.seqLen, config.embedDim);
            this.xSelfcond = be.allocate(rows * lane.seqLen, config.embedDim);
            this.segments = Segments.whole(rows, lane.seqLen);
        }

        /**
         * Queues the forward on float32(z) at float32(γ_t) of each member's rows, kept for a backward when
         * {@code guided}; a device backend returns before it has run.
         */
        void queue(List<Trajectory> members, boolean guided) {
            int size = (int) z.numel();
            float[] zf = new float[size], sc = new float[size];
            double[] gammas = new double[denoiser.rows()];
            int at = 0, row = 0;
            for (Trajectory t : members) {
                for (int k = 0; k < t.z.length; k++) zf[at + k] = (float) t.z[k];
                System.arraycopy(t.selfCond, 0, sc, at, t.selfCond.length);
                Arrays.fill(gammas, row, row + t.rows(), (float) gamma(t.t()));
                at += t.z.length;
                row += t.rows();
            }
            graph.run(() -> {
                be.upload(zf, z);
                be.upload(sc, xSelfcond);
                denoiser.forward(z, gammas, embedding, 1.0, xSelfcond, null, segments, guided);
            });
        }

        /** x̂ of the forward queued last, in z's space (waits for it). */
        float[] reconst() {
            float[] x = be.download(denoiser.xReconst());
            return reconstToBow == null
                    ? x
                    : reconstToBow.toBow(x, denoiser.rows(), denoiser.seqLen(), config.embedDim);
        }

        /** Argmax over the vocabulary of the latest logits of rows first.. first+count (first maximum on ties). */
        int[][] argmax(int first, int count) {
            int seqLen = denoiser.seqLen(), vocab = config.vocabSize;
            int[] best = be.argmaxRows(denoiser.logits().view((long) first * seqLen * vocab, count * seqLen, vocab));
            int[][] tokens = new int[count][];
            for (int b = 0; b < count; b++) tokens[b] = Arrays.copyOfRange(best, b * seqLen, (b + 1) * seqLen);
            return tokens;
        }
    }

    private static double sigmoid(double x) {
        return 1.0 / (1.0 + Math.exp(-x));
    }
}

package plaid.model.sampling;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Stream;
import plaid.backend.ComputeBackend;
import plaid.backend.MatmulPrecision;
import plaid.backend.Segments;
import plaid.backend.StepGraph;
import plaid.backend.Tensor;
import plaid.model.Denoiser;
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
 * once and replay ({@link StepGraph}); on a device ({@link #serveWithin}) it keeps its size while requests
 * join and leave. A step's host work is kept small: one argmax over the lane's decoding rows, and the
 * per-trajectory work (noise, the float64 update, the float32 casts) in parallel over trajectories
 * ({@link HostWork}). Not thread-safe: one step at a time, inside {@link #session}.
 */
public final class SamplerBatch {
    private final PlaidParameters params;
    private final ComputeBackend be;
    private final PlaidConfig config;
    private final int maxSeqLen;
    private final Tensor embedding;
    private final StepUpdate update;
    private final BowTransform reconstToBow;
    private final List<Tensor> weights;
    /** Each lane's model call, reused while its rows fit it (exactly, or their bucket: {@link #padRowsToBuckets}). */
    private final Map<Lane, ModelCall> calls = new HashMap<>();
    /** Replays of the step graphs of model calls no longer in use. */
    private long retiredReplays;
    /** The latest fallback of such a call's step graph ({@link StepGraph#lastFallback}), or null. */
    private String retiredFallback;

    private GuidanceGradient guidance;
    /** Each new call's sizing with fixed costs instead of measured ones (tests), or null. */
    private Supplier<CallSizing> fixedSizing;
    /** 0: each lane's call holds exactly its rows; else rows are padded to buckets within this many tokens. */
    private long maxBatchTokens;

    private HostWork work = new HostWork(HostWork.DEFAULT_MIN_ELEMENTS);
    private StepTimes times = StepTimes.ZERO;

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
        double[] bounds = params.gammaBounds();
        this.update = new StepUpdate(params.noiseSchedule(), bounds[0], bounds[1]);
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

    /**
     * Pads each lane's model call to a row bucket (1, 2, 4, 8, then multiples of 8), at most {@code maxBatchTokens}
     * over the lane's seq_len rows, so a lane's activations and recorded step are rebuilt only when its bucket
     * changes, not at every join or leave: at once when its rows outgrow the call, and to a smaller bucket once
     * the padded rows have cost what a rebuild costs ({@link CallSizing}). Padded rows hold zeros at a valid γ
     * and their outputs are ignored; every op of a forward and of the guidance backward works per row, so real
     * rows get what they get unpadded. Without it (0, the default: one request alone) the call holds exactly the
     * lane's rows.
     */
    void padRowsToBuckets(long maxBatchTokens) {
        if (maxBatchTokens < 0) throw new IllegalArgumentException("maxBatchTokens must be ≥ 0, got " + maxBatchTokens);
        this.maxBatchTokens = maxBatchTokens;
    }

    /** Sizes lanes' calls by fixed costs instead of measured ones (tests: the shrink rule without a clock). */
    void fixCallCosts(double rowStepNanos, long rebuildNanos) {
        this.fixedSizing = () -> CallSizing.fixed(rowStepNanos, rebuildNanos);
    }

    /**
     * Tells the batch a server's budget, {@code maxBatchTokens} (rows × seq_len): on a device backend, where a
     * rebuild of a lane's call is dear (allocation, a new step graph) and a padded row nearly free, lanes are
     * padded to row buckets within it ({@link #padRowsToBuckets}); on the CPU backend, where a padded row costs
     * its share of the step and a rebuild little beside it, they hold exactly their rows.
     */
    public void serveWithin(long maxBatchTokens) {
        if (!be.name().equals("cpu")) padRowsToBuckets(maxBatchTokens);
    }

    /**
     * Rows a lane's call holds for {@code rows} real ones: powers of two up to 8, so a small batch does not
     * pay for 8 rows, then multiples of 8, so a join or leave rebuilds the call at most once per 8 rows and at
     * most 7 rows of a large batch are padding; never more than {@code maxRows} (the budget's), never fewer
     * than {@code rows}.
     */
    static int bucket(int rows, int maxRows) {
        int padded = rows <= 1 ? rows : rows <= 8 ? Integer.highestOneBit(rows - 1) << 1 : (rows + 7) / 8 * 8;
        return Math.max(rows, Math.min(padded, maxRows));
    }

    /** Forks the per-trajectory host work once a step touches {@code minElements} latent elements (tests: 0). */
    void hostWorkFrom(int minElements) {
        this.work = new HostWork(minElements);
    }

    /** Where the steps so far spent their time (summed; {@link StepTimes#since} gives an interval's). */
    public StepTimes stepTimes() {
        return times;
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
        times = times.plus(new StepTimes(1, 0, 0, 0, 0, 0, 0, 0, 0));
    }

    private void step(Lane lane, List<Trajectory> members) {
        int n = members.size(), rows = 0;
        int[] firstRow = new int[n];
        for (int i = 0; i < n; i++) {
            firstRow[i] = rows;
            rows += members.get(i).rows();
        }
        long built = System.nanoTime();
        ModelCall call = callFor(lane, rows);
        long t0 = System.nanoTime();
        call.queue(members, firstRow, lane.guided);
        long t1 = System.nanoTime();
        // drawn while a device backend runs the forward just queued
        work.forEach(members, i -> members.get(i).drawStepNoise());
        long t2 = System.nanoTime();
        boolean anyMoves = members.stream().anyMatch(t -> !t.atFinalCall());
        float[] xModel = anyMoves ? call.reconst() : null;
        long t3 = System.nanoTime();
        float[] guidanceGrad = null;
        if (lane.guided) {
            if (guidance == null) guidance = new GuidanceGradient(be, config.vocabSize, config.embedDim);
            List<GuidanceGradient.RowTerms> terms = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                Trajectory t = members.get(i);
                terms.add(new GuidanceGradient.RowTerms(firstRow[i], t.rows(), t.request.guidance()));
            }
            // padded rows are in no range: no gradient flows from them
            guidanceGrad = guidance.computeByRows(call.denoiser, terms);
        }
        long t4 = System.nanoTime();
        call.sizing.observeStep(call.denoiser.rows(), t4 - t0);
        // one argmax (one launch, one download on a device) over the rows from the first to the last that decode
        int from = rows, to = 0;
        for (int i = 0; i < n; i++) {
            Trajectory t = members.get(i);
            if (!t.atFinalCall() && !t.wantsDecodeAfterStep()) continue;
            from = Math.min(from, firstRow[i]);
            to = firstRow[i] + t.rows();
        }
        int[] best = from < to ? call.argmax(from, to - from) : null;
        int seqLen = lane.seqLen;
        int[][][] tokens = new int[n][][];
        for (int i = 0; i < n; i++) {
            Trajectory t = members.get(i);
            if (!t.atFinalCall() && !t.wantsDecodeAfterStep()) continue;
            tokens[i] = new int[t.rows()][];
            for (int b = 0; b < t.rows(); b++) {
                int at = (firstRow[i] - from + b) * seqLen;
                tokens[i][b] = Arrays.copyOfRange(best, at, at + seqLen);
            }
        }
        long t5 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            Trajectory t = members.get(i);
            if (t.atFinalCall()) t.finish(tokens[i]);
            else if (tokens[i] != null) t.partialDecode(tokens[i]);
        }
        long t6 = System.nanoTime();
        int perRow = seqLen * config.embedDim;
        float[] gradient = guidanceGrad;
        work.forEach(members, i -> {
            Trajectory t = members.get(i);
            if (t.finished()) return;
            int offset = firstRow[i] * perRow;
            System.arraycopy(xModel, offset, t.selfCond, 0, t.selfCond.length);
            update.apply(t, xModel, gradient, offset);
            t.advance();
        });
        long t7 = System.nanoTime();
        times = times.plus(new StepTimes(0, t0 - built, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6));
    }

    /** The lane's model call for {@code rows} real rows: the one it has while their bucket stays the same. */
    private ModelCall callFor(Lane lane, int rows) {
        int capacity = maxBatchTokens == 0
                ? rows
                : bucket(rows, (int) Math.min(Integer.MAX_VALUE, maxBatchTokens / lane.seqLen));
        ModelCall call = calls.get(lane);
        if (call != null) {
            int held = call.denoiser.rows();
            boolean keep = maxBatchTokens > 0
                    // rows that leave in a burst often come back: a smaller bucket waits until padding has cost a
                    // rebuild
                    ? capacity <= held && !call.sizing.shrinkNow(held, capacity)
                    : capacity == held;
            if (keep) return call;
            retiredReplays += call.graph.replays();
            retiredFallback = call.graph.lastFallback().orElse(retiredFallback);
        }
        // the old call's activations are unreachable before the new ones are allocated, so a device backend that
        // frees unreachable memory to make room can free them (rows × seq_len × V logits each)
        calls.remove(lane);
        call = null;
        calls.put(lane, call = new ModelCall(lane, capacity));
        return call;
    }

    /** How many model calls replayed a recorded step ({@link StepGraph#replays}): 0 on a backend that records none. */
    long stepGraphReplays() {
        return retiredReplays
                + calls.values().stream().mapToLong(c -> c.graph.replays()).sum();
    }

    /** Why model calls last ran directly instead of replaying ({@link StepGraph#lastFallback}), for tests' messages. */
    List<String> stepGraphFallbacks() {
        return Stream.concat(
                        Stream.ofNullable(retiredFallback),
                        calls.values().stream().flatMap(c -> c.graph.lastFallback().stream()))
                .toList();
    }

    /** The rows each lane's model call holds now (padding included), for tests. */
    Map<String, Integer> callRows() {
        Map<String, Integer> rows = new LinkedHashMap<>();
        calls.forEach((lane, call) -> rows.put(lane.toString(), call.denoiser.rows()));
        return rows;
    }

    /** The denoiser of one lane with sample.py's fixed arguments: bias scale 1, every row on the self-conditioning path. */
    private final class ModelCall {
        final Denoiser denoiser;
        final Tensor z;
        final Tensor xSelfcond;
        final Segments segments;
        /** The uploads and the forward, the same work on the same tensors each step. */
        final StepGraph graph = be.stepGraph();
        /** When it shrinks to a smaller bucket; its construction is part of a rebuild's price. */
        final CallSizing sizing;

        ModelCall(Lane lane, int rows) {
            long start = System.nanoTime();
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
            this.sizing = fixedSizing != null ? fixedSizing.get() : CallSizing.measured(System.nanoTime() - start);
        }

        /**
         * Queues the forward on float32(z) at float32(γ_t) of each member's rows (member i's from row
         * {@code firstRow[i]}), zeros at γ(1) in the padded rows, kept for a backward when {@code guided}; a device
         * backend returns before it has run.
         */
        void queue(List<Trajectory> members, int[] firstRow, boolean guided) {
            int size = (int) z.numel(), perRow = denoiser.seqLen() * config.embedDim;
            float[] zf = new float[size], sc = new float[size];
            double[] gammas = new double[denoiser.rows()];
            work.castForForward(members, firstRow, perRow, zf, sc);
            int row = 0;
            for (int i = 0; i < members.size(); i++) {
                Trajectory t = members.get(i);
                Arrays.fill(gammas, firstRow[i], row = firstRow[i] + t.rows(), (float) update.gamma(t.t()));
            }
            Arrays.fill(gammas, row, gammas.length, (float) update.gamma(1.0));
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

        /** Argmax over the vocabulary of the latest logits of rows first.. first+count: [count·S], first max on ties */
        int[] argmax(int first, int count) {
            int seqLen = denoiser.seqLen(), vocab = config.vocabSize;
            return be.argmaxRows(denoiser.logits().view((long) first * seqLen * vocab, count * seqLen, vocab));
        }
    }
}

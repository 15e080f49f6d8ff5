package plaid.bench;

import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.backend.cuda.CudaBackend;
import plaid.backend.cuda.CudaOptions;
import plaid.backend.cuda.GemmPrecision;
import plaid.model.Denoiser;
import plaid.model.PlaidParameters;
import plaid.model.sampling.DiffusionSampler;
import plaid.model.sampling.Guidance;
import plaid.model.sampling.NoiseSource;
import plaid.model.sampling.SamplingRequest;
import plaid.options.PlaidConfig;

/**
 * Sampling ms/step, unguided and prefix-guided, for one model shape in each GEMM precision; in the
 * bf16 mode also the step measured directly, the ablations of its bf16 operands and tensor-core
 * attention, and per-op profiles; with {@code -Dplaid.bench.graphs=true} also each sampling row and
 * the directly measured step with the model call recorded as a CUDA graph ({@link CudaOptions#graphs}).
 * A model measured under several option sets gets its weights copied onto each face.
 */
final class SamplingBenchmark extends GpuMeasurements {
    /** How many sampler steps the timing divides by: the difference of two runs, so setup and the final argmax cancel. */
    private static final int TIMED_SAMPLER_STEPS = Integer.getInteger("plaid.bench.samplerSteps", 10);

    private static final int BASELINE_SAMPLER_STEPS = 2;
    /** Tokens of the guidance prefix: one 'at' term per position. */
    private static final int GUIDANCE_PREFIX = 8;

    private static final double GUIDANCE_WEIGHT = 1.0;
    /**
     * Sampler rows with the bf16 mode's bf16 operands and tensor-core attention switched off, to
     * show what each buys (the directly measured step has these rows always: they are quick).
     */
    private static final boolean ABLATIONS = !Boolean.getBoolean("plaid.bench.noAblations");
    /** Skips the prefix-guided sampling rows (the slowest). */
    private static final boolean NO_GUIDED = Boolean.getBoolean("plaid.bench.noGuided");
    /** A per-op profile of one sampling call per shape (bf16). */
    private static final boolean PROFILES = !Boolean.getBoolean("plaid.bench.noProfiles");
    /** The small shape times {@value #SMALL_SHAPE_STEP_FACTOR}× the steps: a fast step needs more of them to stand out of the noise of the runs' setup and final argmax. */
    private static final int SMALL_SHAPE_STEP_FACTOR = 4;

    private static final int DIRECT_STEPS = 20;

    /** Rows with the model call recorded once and replayed as a CUDA graph, beside the rows without. */
    private static final boolean GRAPHS = Boolean.getBoolean("plaid.bench.graphs");

    /** The host copy of the weights last copied onto another face, and whose they are. */
    private PlaidParameters copiedFrom;

    private java.util.Map<plaid.model.ParameterGroup, java.util.Map<String, plaid.tensor.HostTensor>> hostCopy;

    SamplingBenchmark(CudaBackend gpu, List<Row> rows) {
        super(gpu, rows);
    }

    /** Lets the last phase's weights go (the host copy holds their source). */
    void forgetCopies() {
        copiedFrom = null;
        hostCopy = null;
    }

    /** The weights of {@code params} on {@code face}: the same object when their face has its options already, else a copy. */
    private PlaidParameters on(PlaidConfig config, CudaBackend face, PlaidParameters params) {
        if (params.backend() instanceof CudaBackend current && current.options().equals(face.options())) return params;
        if (copiedFrom != params) {
            hostCopy = null;
            releaseGarbage();
            hostCopy = params.toStateDicts();
            copiedFrom = params;
        }
        releaseGarbage(); // the previous copy on the device
        return PlaidParameters.fromStateDicts(config, face, hostCopy);
    }

    void sampling(
            String shape,
            PlaidConfig config,
            int unguidedSeqLen,
            int guidedSeqLen,
            double unguidedAnchor,
            double guidedAnchor,
            List<GemmPrecision> precisions) {
        forgetCopies();
        releaseGarbage(); // the previous phase's model and activations
        log(
                "initialising the %s model (D %d, L %d, H %d, V %d)",
                shape, config.dim, config.nBlocks, config.nHeads, config.vocabSize);
        PlaidParameters initial = PlaidParameters.initialize(config, in(precisions.getFirst()), 1);
        int maxSeqLen = Math.max(unguidedSeqLen, guidedSeqLen);
        int timedSteps = shape.equals("small") ? SMALL_SHAPE_STEP_FACTOR * TIMED_SAMPLER_STEPS : TIMED_SAMPLER_STEPS;
        int[] prefix = new SplittableRandom(4)
                .ints(GUIDANCE_PREFIX, 0, config.vocabSize)
                .toArray();
        SamplingRequest unguided = SamplingRequest.defaults(unguidedSeqLen).withSamples(8);
        SamplingRequest guided = SamplingRequest.defaults(guidedSeqLen)
                .withSamples(8)
                .withGuidance(Guidance.prefix(prefix, GUIDANCE_WEIGHT));
        for (GemmPrecision precision : precisions) {
            CudaBackend face = in(precision);
            PlaidParameters params = on(config, face, initial);
            DiffusionSampler sampler = new DiffusionSampler(config, params, maxSeqLen);
            String mode = precision.name().toLowerCase(Locale.ROOT);
            guarded(
                    "sampling " + shape + " unguided " + mode,
                    () -> rows.add(new Row(
                            "sampling, unguided, " + shape + ", 8 × " + unguidedSeqLen,
                            mode,
                            samplerStepMillis(sampler, unguided, timedSteps),
                            unguidedAnchor,
                            "ms/step")));
            if (GRAPHS) {
                guarded("sampling " + shape + " unguided " + mode + " with CUDA graphs", () -> {
                    DiffusionSampler recorded =
                            new DiffusionSampler(config, withGraphs(config, face, params), maxSeqLen);
                    rows.add(new Row(
                            "sampling, unguided, " + shape + ", 8 × " + unguidedSeqLen,
                            mode + ", CUDA graphs",
                            samplerStepMillis(recorded, unguided, timedSteps),
                            unguidedAnchor,
                            "ms/step"));
                    if (!NO_GUIDED)
                        rows.add(new Row(
                                "sampling, prefix-guided (" + GUIDANCE_PREFIX + " tokens), " + shape + ", 8 × "
                                        + guidedSeqLen,
                                mode + ", CUDA graphs",
                                samplerStepMillis(recorded, guided, timedSteps),
                                guidedAnchor,
                                "ms/step"));
                });
            }
            if (!NO_GUIDED)
                guarded(
                        "sampling " + shape + " guided " + mode,
                        () -> rows.add(new Row(
                                "sampling, prefix-guided (" + GUIDANCE_PREFIX + " tokens), " + shape + ", 8 × "
                                        + guidedSeqLen,
                                mode,
                                samplerStepMillis(sampler, guided, timedSteps),
                                guidedAnchor,
                                "ms/step")));
            if (precision == GemmPrecision.BF16) {
                // the step without the sampler's per-call setup and final argmax, whose spread the difference above
                // inherits
                guarded("sampling step " + shape + " unguided " + mode + ", measured directly", () -> {
                    String work = "sampling step measured directly (median of " + DIRECT_STEPS + "), unguided, " + shape
                            + ", 8 × " + unguidedSeqLen;
                    rows.add(new Row(
                            work, mode, directStepMillis(config, params, unguidedSeqLen), unguidedAnchor, "ms/step"));
                    if (GRAPHS)
                        rows.add(new Row(
                                work,
                                mode + ", CUDA graphs",
                                directStepMillis(config, withGraphs(config, face, params), unguidedSeqLen),
                                unguidedAnchor,
                                "ms/step"));
                    CudaOptions converted = face.options().withBf16Activations(false);
                    rows.add(new Row(
                            work,
                            "bf16, activations converted",
                            directStepMillis(config, on(config, face.withOptions(converted), params), unguidedSeqLen),
                            unguidedAnchor,
                            "ms/step"));
                    CudaOptions fp32Attention = converted.withFlashAttention(false);
                    rows.add(new Row(
                            work,
                            "bf16, activations converted, fp32 attention",
                            directStepMillis(
                                    config, on(config, face.withOptions(fp32Attention), params), unguidedSeqLen),
                            unguidedAnchor,
                            "ms/step"));
                    rows.add(new Row(
                            work,
                            "bf16, activations converted, fp32 attention, fp32 operands",
                            directStepMillis(
                                    config,
                                    on(config, face.withOptions(fp32Attention.withBf16Operands(false)), params),
                                    unguidedSeqLen),
                            unguidedAnchor,
                            "ms/step"));
                });
            }
            if (precision == GemmPrecision.BF16 && ABLATIONS) {
                // what each half of the bf16 mode buys: the earlier code had neither
                guarded("sampling " + shape + " unguided bf16 without the tensor-core attention", () -> {
                    CudaOptions fp32Attention = face.options().withFlashAttention(false);
                    rows.add(new Row(
                            "sampling, unguided, " + shape + ", 8 × " + unguidedSeqLen,
                            "bf16, fp32 attention",
                            samplerStepMillis(
                                    new DiffusionSampler(
                                            config, on(config, face.withOptions(fp32Attention), params), maxSeqLen),
                                    unguided,
                                    timedSteps),
                            unguidedAnchor,
                            "ms/step"));
                    rows.add(new Row(
                            "sampling, unguided, " + shape + ", 8 × " + unguidedSeqLen,
                            "bf16, fp32 attention, fp32 operands",
                            samplerStepMillis(
                                    new DiffusionSampler(
                                            config,
                                            on(config, face.withOptions(fp32Attention.withBf16Operands(false)), params),
                                            maxSeqLen),
                                    unguided,
                                    timedSteps),
                            unguidedAnchor,
                            "ms/step"));
                });
            }
            if (precision == GemmPrecision.BF16 && PROFILES) {
                guarded(
                        "profile of sampling " + shape + " " + mode,
                        () -> printProfile(
                                "one unguided sampling call of 1 step (2 model calls), " + shape + ", 8 × "
                                        + unguidedSeqLen + ", " + mode,
                                () -> sampler.sample(unguided.withSteps(1), NoiseSource.seeded(5))));
                if (!NO_GUIDED)
                    guarded(
                            "profile of guided sampling " + shape + " " + mode,
                            () -> printProfile(
                                    "one prefix-guided sampling call of 1 step (2 model calls, 1 backward), " + shape
                                            + ", 8 × " + guidedSeqLen + ", " + mode,
                                    () -> sampler.sample(guided.withSteps(1), NoiseSource.seeded(5))));
            }
        }
    }

    /** The weights of {@code params} on the face of {@code face}'s options with CUDA graphs on. */
    private PlaidParameters withGraphs(PlaidConfig config, CudaBackend face, PlaidParameters params) {
        return on(config, face.withOptions(face.options().withGraphs(true)), params);
    }

    /**
     * One unguided sampler step done here as DiffusionSampler does it, with 8 samples: upload
     * float32(z), the denoiser's forward at bias scale 1 with self-conditioning, download x̂,
     * upload it as the next self-conditioning input, the weights declared read-only (the sampler's float64 update of z, ≈ 0.1 ms
     * of host time for 8 × 1024 × 16 values, is left out). The uploads and the forward are one step of a
     * {@link plaid.backend.StepGraph}, as the sampler's model call, recorded where the face's options ask for
     * graphs. The median over {@value #DIRECT_STEPS} steps after three of warm-up (the direct run, the
     * capture and a replay, with graphs).
     */
    private double directStepMillis(PlaidConfig c, PlaidParameters params, int seqLen) {
        releaseGarbage();
        CudaBackend gpu = (CudaBackend) params.backend();
        int samples = 8, size = samples * seqLen * c.embedDim;
        Denoiser denoiser = new Denoiser(c, params, samples, seqLen);
        Tensor embedding = gpu.allocate(c.vocabSize, c.embedDim);
        gpu.upload(params.normalizedEmbedding(), embedding);
        Tensor z = gpu.allocate(samples * seqLen, c.embedDim), selfCond = gpu.allocate(samples * seqLen, c.embedDim);
        Segments segments = Segments.whole(samples, seqLen);
        float[] zHost = new float[size];
        SplittableRandom random = new SplittableRandom(6);
        for (int k = 0; k < size; k++) zHost[k] = (float) random.nextGaussian();
        double[] gammas = new double[samples];
        java.util.Arrays.fill(gammas, 0.5);
        double[] millis = new double[DIRECT_STEPS];
        plaid.backend.StepGraph graph = gpu.stepGraph();
        float[][] selfCondHost = {new float[size]};
        // the weights read-only for the steps, as DiffusionSampler declares them
        gpu.withReadOnly(params.all().stream().map(plaid.model.Parameter::value).toList(), () -> {
            for (int i = -3; i < DIRECT_STEPS; i++) {
                gpu.synchronize();
                long start = System.nanoTime();
                float[] previous = selfCondHost[0];
                graph.run(() -> {
                    gpu.upload(zHost, z);
                    gpu.upload(previous, selfCond);
                    denoiser.forward(z, gammas, embedding, 1.0, selfCond, null, segments, false);
                });
                selfCondHost[0] = gpu.download(denoiser.xReconst());
                if (i >= 0) millis[i] = (System.nanoTime() - start) / 1e6;
            }
            return null;
        });
        // a row "with CUDA graphs" that replayed nothing says so, naming what broke the recording
        if (gpu.options().graphs() && graph.replays() == 0)
            log(
                    "a step with CUDA graphs replayed nothing: %s",
                    graph.lastFallback().orElse("no fallback recorded"));
        java.util.Arrays.sort(millis);
        return millis[DIRECT_STEPS / 2];
    }

    /**
     * One sampler step: (time of warm-up + timed steps − time of warm-up steps) ÷ timed steps,
     * each time the best of three runs so a stray allocation or collection does not skew the difference.
     */
    private double samplerStepMillis(DiffusionSampler sampler, SamplingRequest request, int timedSteps) {
        sampler.sample(
                request.withSteps(BASELINE_SAMPLER_STEPS), NoiseSource.seeded(5)); // compiles kernels, warms the JIT
        double baseline =
                bestOfThree(() -> sampler.sample(request.withSteps(BASELINE_SAMPLER_STEPS), NoiseSource.seeded(5)));
        double longer = bestOfThree(
                () -> sampler.sample(request.withSteps(BASELINE_SAMPLER_STEPS + timedSteps), NoiseSource.seeded(5)));
        return (longer - baseline) / timedSteps;
    }

    private double bestOfThree(Runnable work) {
        double best = Double.POSITIVE_INFINITY;
        for (int i = 0; i < 3; i++) {
            releaseGarbage();
            best = Math.min(best, timeMillis(work));
        }
        return best;
    }
}

package plaid.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.backend.cuda.CudaBackend;
import plaid.backend.cuda.CudaOptions;
import plaid.backend.cuda.GemmPrecision;
import plaid.backend.cuda.OpTiming;
import plaid.model.Denoiser;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.model.sampling.DiffusionSampler;
import plaid.model.sampling.Guidance;
import plaid.model.sampling.NoiseSource;
import plaid.model.sampling.SamplingRequest;
import plaid.options.PlaidConfig;

/**
 * Our figures beside the original's on one H200 (docs/benchmarks-gpu.md, anchors.md): sampling
 * ms/step unguided and prefix-guided for the 1B and the small shape, the small model's training
 * step at batch 256 with its peak device memory, and where a training step's time goes, per op.
 * Random weights and tokens (speed does not depend on their values), on the CUDA backend, once
 * per GEMM precision in {@code -Dplaid.bench.precisions} (default fp32,bf16).
 * In the bf16 mode also: sampling with its bf16 operand copies and tensor-core attention switched
 * off (what each buys; {@code -Dplaid.bench.noAblations=true} skips them in the sampler's figures),
 * the sampling step measured directly (the denoiser's call and the sampler's transfers, without
 * its setup and final argmax), {@code -Dplaid.bench.noGuided=true} skips guided sampling, a per-op profile of one
 * sampling call per shape ({@code -Dplaid.bench.noProfiles=true} skips them), and the 1B step's
 * largest GEMMs and attention forward alone, as TFLOP/s.
 * Run by gpu/bench.sh; {@code -Dplaid.bench.only=sampling|training|operations} runs one part.
 * Each option set is its own backend, a face of one device ({@link CudaBackend#withOptions}), and
 * a model measured under several gets its weights copied onto each.
 */
public final class GpuBenchmark {
    /** How many sampler steps the timing divides by: the difference of two runs, so setup and the final argmax cancel. */
    private static final int TIMED_SAMPLER_STEPS = Integer.getInteger("plaid.bench.samplerSteps", 10);

    private static final int BASELINE_SAMPLER_STEPS = 2;
    private static final int WARMUP_TRAINING_STEPS = 2;
    private static final int TIMED_TRAINING_STEPS = 3;
    /** Tokens of the guidance prefix: one 'at' term per position. */
    private static final int GUIDANCE_PREFIX = 8;

    private static final double GUIDANCE_WEIGHT = 1.0;
    private static final int PROFILE_ROWS = 25;
    /**
     * Sampler rows with the bf16 mode's bf16 operands and tensor-core attention switched off, to
     * show what each buys (the directly measured step has these rows always: they are quick).
     */
    private static final boolean ABLATIONS = !Boolean.getBoolean("plaid.bench.noAblations");
    /** Skips the prefix-guided sampling rows (the slowest). */
    private static final boolean NO_GUIDED = Boolean.getBoolean("plaid.bench.noGuided");
    /** A per-op profile of one sampling call per shape (bf16). */
    private static final boolean PROFILES = !Boolean.getBoolean("plaid.bench.noProfiles");

    /** One line of the table: our figure, the original's on the same kind of card, and the unit. */
    private record Row(String work, String mode, double ours, double original, String unit) {}

    /** The backend of the -Dplaid.cuda.* options; the measurements use faces of it with other options. */
    private final CudaBackend gpu;

    private final List<Row> rows = new ArrayList<>();

    private GpuBenchmark(CudaBackend gpu) {
        this.gpu = gpu;
    }

    /** The face of the device with these options. */
    private CudaBackend with(java.util.function.UnaryOperator<CudaOptions> change) {
        return gpu.withOptions(change.apply(gpu.options()));
    }

    private CudaBackend in(GemmPrecision precision) {
        return with(o -> o.withPrecision(precision));
    }

    /** The host copy of the weights last copied onto another face, and whose they are. */
    private PlaidParameters copiedFrom;

    private java.util.Map<plaid.model.ParameterGroup, java.util.Map<String, plaid.tensor.HostTensor>> hostCopy;

    /** Lets the last phase's weights go (the host copy holds their source). */
    private void forgetCopies() {
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

    public static void main(String[] args) {
        String only = System.getProperty("plaid.bench.only", "all");
        List<GemmPrecision> precisions = new ArrayList<>();
        for (String name :
                System.getProperty("plaid.bench.precisions", "fp32,bf16").split(",")) {
            precisions.add(GemmPrecision.valueOf(name.trim().toUpperCase(Locale.ROOT)));
        }
        try (CudaBackend gpu = new CudaBackend()) {
            GpuBenchmark bench = new GpuBenchmark(gpu);
            if (only.equals("all") || only.equals("operations")) bench.operations();
            if (!only.equals("training") && !only.equals("operations")) {
                bench.sampling("1B", config(2048, 24, 32), 1024, 1024, 51.4, 134.5, precisions);
                bench.sampling("small", config(384, 16, 6), 1024, 256, 18.0, 46.2, precisions);
            }
            if (!only.equals("sampling") && !only.equals("operations")) bench.training(precisions);
            bench.printTable();
        }
    }

    private static PlaidConfig config(int dim, int blocks, int heads) {
        PlaidConfig c = PlaidConfig.defaults();
        c.dim = dim;
        c.nBlocks = blocks;
        c.nHeads = heads;
        return c.validate();
    }

    // ---- sampling -----------------------------------------------------------------

    private void sampling(
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

    private static final int DIRECT_STEPS = 20;

    /**
     * One unguided sampler step done here as DiffusionSampler does it, with 8 samples: upload
     * float32(z), the denoiser's forward at bias scale 1 with self-conditioning, download x̂,
     * upload it as the next self-conditioning input, the weights declared read-only (the sampler's float64 update of z, ≈ 0.1 ms
     * of host time for 8 × 1024 × 16 values, is left out). The median over {@value #DIRECT_STEPS}
     * steps after three of warm-up.
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
        // the weights read-only for the steps, as DiffusionSampler declares them
        gpu.withReadOnly(params.all().stream().map(plaid.model.Parameter::value).toList(), () -> {
            for (int i = -3; i < DIRECT_STEPS; i++) {
                gpu.synchronize();
                long start = System.nanoTime();
                gpu.upload(zHost, z);
                denoiser.forward(z, gammas, embedding, 1.0, selfCond, null, segments, false);
                float[] reconst = gpu.download(denoiser.xReconst());
                gpu.upload(reconst, selfCond);
                if (i >= 0) millis[i] = (System.nanoTime() - start) / 1e6;
            }
            return null;
        });
        java.util.Arrays.sort(millis);
        return millis[DIRECT_STEPS / 2];
    }

    // ---- single operations at the 1B shape ------------------------------------------

    /**
     * The 1B step's largest GEMMs (per block: qkv, fc1 and fc2; the output head) in the bf16 mode
     * with bf16 operand copies (conversions included) and with the fp32 matrices cuBLAS rounds on
     * the fly, as TFLOP/s; and one block's attention forward and backward, fp32 tiled against tensor cores.
     */
    private void operations() {
        releaseGarbage();
        CudaBackend gpu = in(GemmPrecision.BF16);
        int tokens = 8 * 1024, d = 2048, v = 32768;
        record Shape(String name, int m, int n, int k, ComputeBackend.Epilogue epilogue) {}
        List<Shape> shapes = List.of(
                new Shape("qkv", tokens, 3 * d, d, ComputeBackend.Epilogue.NONE),
                new Shape("mlp fc1 + GELU", tokens, 4 * d, d, ComputeBackend.Epilogue.GELU),
                new Shape("mlp fc2", tokens, d, 4 * d, ComputeBackend.Epilogue.NONE),
                new Shape("output head + bias", tokens, v, d, ComputeBackend.Epilogue.BIAS));
        for (Shape shape : shapes) {
            guarded("gemm " + shape.name(), () -> {
                Tensor a = gpu.allocate(shape.m(), shape.k()),
                        b = gpu.allocate(shape.n(), shape.k()),
                        c = gpu.allocate(shape.m(), shape.n());
                Tensor bias = gpu.allocate(shape.n()),
                        pre =
                                shape.epilogue() == ComputeBackend.Epilogue.GELU
                                        ? gpu.allocate(shape.m(), shape.n())
                                        : null;
                gpu.fill(a, 0.01f);
                gpu.fill(b, 0.02f);
                double flops = 2.0 * shape.m() * shape.n() * shape.k();
                for (boolean copies : new boolean[] {true, false}) {
                    CudaBackend face = gpu.withOptions(gpu.options().withBf16Operands(copies));
                    double millis = millisPerCall(
                            () -> face.gemm(false, true, 1f, a, b, 0f, c, shape.epilogue(), bias, pre), 10);
                    rows.add(new Row(
                            "gemm " + shape.name() + ", " + shape.m() + " × " + shape.n() + " × " + shape.k(),
                            copies ? "bf16, bf16 operands" : "bf16, fp32 operands",
                            flops / millis / 1e9,
                            DENSE_BF16_PEAK_TFLOPS,
                            "TFLOP/s"));
                }
            });
        }
        guarded("attention", () -> {
            int rowsOfSamples = 8, seqLen = 1024, heads = 32, headDim = 64;
            Tensor qkv = gpu.allocate(rowsOfSamples, seqLen, 3, heads, headDim),
                    out = gpu.allocate(rowsOfSamples, seqLen, heads, headDim);
            Tensor lse = gpu.allocate(rowsOfSamples, heads, seqLen);
            gpu.fill(qkv, 0.01f);
            Segments segments = Segments.whole(rowsOfSamples, seqLen);
            double flops = 4.0 * rowsOfSamples * heads * seqLen * seqLen * headDim;
            for (String variant : List.of(
                    "bf16, tensor cores, async tiles", "bf16, tensor cores, tiles converted on load", "fp32 tiled")) {
                CudaBackend face = gpu.withOptions(gpu.options()
                        .withFlashAttention(!variant.startsWith("fp32"))
                        .withFlashAttentionFromBf16Copy(variant.contains("async")));
                addMillisAndRate(
                        "attention forward, one 1B block, 8 × 1024, 32 heads of 64",
                        variant,
                        millisPerCall(() -> face.attention(qkv, heads, segments, out, lse), 20),
                        flops);
            }
            // the backward from the forward's outputs; flops: the convention's 2.5 forwards (5 of its products)
            Tensor dOut = gpu.allocate(rowsOfSamples, seqLen, heads, headDim),
                    dqkv = gpu.allocate(rowsOfSamples, seqLen, 3, heads, headDim);
            gpu.fill(dOut, 0.01f);
            gpu.attention(qkv, heads, segments, out, lse);
            for (String variant : List.of("bf16, tensor cores", "fp32 tiled")) {
                CudaBackend face = gpu.withOptions(gpu.options().withFlashAttention(!variant.startsWith("fp32")));
                Runnable backward = () -> face.attentionBackward(dOut, qkv, out, lse, heads, segments, dqkv);
                addMillisAndRate(
                        "attention backward, one 1B block, 8 × 1024, 32 heads of 64",
                        variant,
                        millisPerCall(backward, 20),
                        2.5 * flops);
                if (!variant.startsWith("fp32"))
                    printProfile("10 attention backwards, one 1B block, " + variant, () -> {
                        for (int i = 0; i < 10; i++) backward.run();
                    });
            }
        });
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

    /** The small shape times {@value #SMALL_SHAPE_STEP_FACTOR}× the steps: a fast step needs more of them to stand out of the noise of the runs' setup and final argmax. */
    private static final int SMALL_SHAPE_STEP_FACTOR = 4;

    private double bestOfThree(Runnable work) {
        double best = Double.POSITIVE_INFINITY;
        for (int i = 0; i < 3; i++) {
            releaseGarbage();
            best = Math.min(best, timeMillis(work));
        }
        return best;
    }

    // ---- training -----------------------------------------------------------------

    private void training(List<GemmPrecision> precisions) {
        PlaidConfig c = config(384, 16, 6);
        c.batchSize = Integer.getInteger("plaid.bench.trainingBatch", 256);
        forgetCopies();
        releaseGarbage(); // the sampling phases' models and activations
        String shape = "small, batch " + c.batchSize + " × seq " + c.seqLen;
        double tokensPerStep = (double) c.batchSize * c.seqLen;
        for (GemmPrecision precision : precisions) {
            String mode = precision.name().toLowerCase(Locale.ROOT);
            guarded("training " + mode, () -> {
                IntConsumer steps = trainingSteps(c, in(precision));
                releaseGarbage();
                gpu.resetPeakAllocatedBytes();
                steps.accept(WARMUP_TRAINING_STEPS);
                double millis = timeMillis(() -> steps.accept(TIMED_TRAINING_STEPS)) / TIMED_TRAINING_STEPS;
                rows.add(new Row("training step, " + shape, mode, millis, 450, "ms/step"));
                rows.add(new Row("training throughput, " + shape, mode, tokensPerStep / millis, 146, "k tokens/s"));
                rows.add(new Row(
                        "peak device memory, training, " + shape,
                        mode,
                        gpu.peakAllocatedBytes() / (double) (1L << 30),
                        57.4,
                        "GiB"));
                printProfile("one training step, " + shape + ", " + mode, () -> steps.accept(1));
            });
        }
        // the per-query kernels replace the tiled fp32 ones; the bf16 mode's attention runs on the tensor cores instead
        if (precisions.getFirst() == GemmPrecision.BF16) return;
        String mode = precisions.getFirst().name().toLowerCase(Locale.ROOT) + ", per-query attention";
        guarded("training " + mode, () -> {
            releaseGarbage();
            IntConsumer steps = trainingSteps(
                    c, with(o -> o.withPrecision(precisions.getFirst()).withTiledAttention(false)));
            steps.accept(1);
            double millis = timeMillis(() -> steps.accept(TIMED_TRAINING_STEPS)) / TIMED_TRAINING_STEPS;
            rows.add(new Row("training step, " + shape, mode, millis, 450, "ms/step"));
        });
    }

    /** Runs the given number of training steps of a fresh small model on {@code face}, each call going on from the last. */
    private static IntConsumer trainingSteps(PlaidConfig c, CudaBackend face) {
        log("initialising the small model for training at batch %d, seq %d", c.batchSize, c.seqLen);
        PlaidParameters params = PlaidParameters.initialize(c, face, 1);
        SplittableRandom tokens = new SplittableRandom(2);
        Trainer trainer = new Trainer(
                c,
                params,
                new RandomSource(3),
                (n, seqLen) -> tokens.ints((long) n * seqLen, 0, c.vocabSize).toArray(),
                0);
        int[] step = {0};
        return count -> {
            for (int i = 0; i < count; i++) trainer.step(step[0]++);
        };
    }

    // ---- measuring and reporting --------------------------------------------------

    /** Wall-clock milliseconds of work that ends by reading a result back (which waits for the device). */
    /** The card's dense bf16 matrix-product rate (anchors.md), what the TFLOP/s rows stand beside. */
    private static final double DENSE_BF16_PEAK_TFLOPS = 790;

    /** Mean time of one call of {@code op} over {@code calls}, after three (cuBLASLt's heuristic query, first launches, the clocks). */
    private double millisPerCall(Runnable op, int calls) {
        for (int i = 0; i < 3; i++) op.run();
        return timeMillis(() -> {
                    for (int i = 0; i < calls; i++) op.run();
                })
                / calls;
    }

    /** Two rows for one timed operation: its time, and its rate beside the card's dense bf16 peak. */
    private void addMillisAndRate(String work, String mode, double millis, double flops) {
        rows.add(new Row(work, mode, millis, Double.NaN, "ms"));
        rows.add(new Row(work, mode, flops / millis / 1e9, DENSE_BF16_PEAK_TFLOPS, "TFLOP/s"));
    }

    private double timeMillis(Runnable work) {
        gpu.synchronize();
        long start = System.nanoTime();
        work.run();
        gpu.synchronize();
        return (System.nanoTime() - start) / 1e6;
    }

    /** Runs one measurement; a failure (out of device memory, say) is reported and the others go on. */
    private static void guarded(String what, Runnable measurement) {
        log("measuring %s", what);
        try {
            measurement.run();
        } catch (RuntimeException e) {
            log("FAILED %s: %s", what, e);
        }
    }

    /** Tensors free their device memory only once collected: collect between phases so that peaks and allocations do not stack up. */
    private static void releaseGarbage() {
        System.gc();
        try {
            Thread.sleep(200); // the Cleaner frees on its own thread
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void printProfile(String what, Runnable work) {
        double unprofiled = timeMillis(work);
        gpu.resetOpProfile();
        gpu.profileOps(true);
        double profiled;
        try {
            profiled = timeMillis(work);
        } finally {
            gpu.profileOps(false);
        }
        List<OpTiming> ops = gpu.opProfile();
        double total = ops.stream().mapToDouble(OpTiming::milliseconds).sum();
        System.out.printf(
                "%nper-op time, %s: %.1f ms unprofiled, %.1f ms profiled (each op synchronised), ops %.1f ms, host between ops %.1f ms%n",
                what, unprofiled, profiled, total, profiled - total);
        System.out.printf("%-40s %8s %10s %7s%n", "op", "calls", "ms", "share");
        for (OpTiming op : ops.subList(0, Math.min(PROFILE_ROWS, ops.size()))) {
            System.out.printf(
                    "%-40s %8d %10.2f %6.1f%%%n",
                    op.op(), op.calls(), op.milliseconds(), 100 * op.milliseconds() / total);
        }
        System.out.flush();
    }

    private void printTable() {
        System.out.printf("%n| work | mode | ours | original | unit | ours ÷ original |%n|---|---|---|---|---|---|%n");
        for (Row r : rows) {
            if (Double.isNaN(r.original())) {
                System.out.printf("| %s | %s | %.1f | — | %s | — |%n", r.work(), r.mode(), r.ours(), r.unit());
            } else {
                System.out.printf(
                        "| %s | %s | %.1f | %.1f | %s | %.2f |%n",
                        r.work(), r.mode(), r.ours(), r.original(), r.unit(), r.ours() / r.original());
            }
        }
        System.out.println(
                "\n(for ms and GiB below 1 is better; for tokens/s above 1 is better; TFLOP/s rows: the original column is the card's dense bf16 peak)");
    }

    private static void log(String format, Object... args) {
        System.out.printf("[bench] " + format + "%n", args);
        System.out.flush();
    }
}

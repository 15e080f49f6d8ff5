package plaid.model.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;
import plaid.backend.cuda.CudaBackend;
import plaid.backend.cuda.GemmPrecision;
import plaid.backend.cuda.OpTiming;
import plaid.model.PlaidConfig;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.model.sampling.DiffusionSampler;
import plaid.model.sampling.Guidance;
import plaid.model.sampling.NoiseSource;
import plaid.model.sampling.SamplingRequest;

/**
 * Our figures beside the original's on one H200 (docs/benchmarks-gpu.md, anchors.md): sampling
 * ms/step unguided and prefix-guided for the 1B and the small shape, the small model's training
 * step at batch 256 with its peak device memory, and where a training step's time goes, per op.
 * Random weights and tokens (speed does not depend on their values), on the CUDA backend, once
 * per GEMM precision in {@code -Dplaid.bench.precisions} (default fp32,bf16).
 * Run by gpu/bench.sh; {@code -Dplaid.bench.only=sampling|training} runs one half.
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

    /** One line of the table: our figure, the original's on the same kind of card, and the unit. */
    private record Row(String work, String mode, double ours, double original, String unit) {}

    private final CudaBackend gpu;
    private final List<Row> rows = new ArrayList<>();

    private GpuBenchmark(CudaBackend gpu) {
        this.gpu = gpu;
    }

    public static void main(String[] args) {
        String only = System.getProperty("plaid.bench.only", "all");
        List<GemmPrecision> precisions = new ArrayList<>();
        for (String name : System.getProperty("plaid.bench.precisions", "fp32,bf16").split(",")) {
            precisions.add(GemmPrecision.valueOf(name.trim().toUpperCase(Locale.ROOT)));
        }
        try (CudaBackend gpu = new CudaBackend()) {
            GpuBenchmark bench = new GpuBenchmark(gpu);
            if (!only.equals("training")) {
                bench.sampling("1B", config(2048, 24, 32), 1024, 1024, 51.4, 134.5, precisions);
                bench.sampling("small", config(384, 16, 6), 1024, 256, 18.0, 46.2, precisions);
            }
            if (!only.equals("sampling")) bench.training(precisions);
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

    private void sampling(String shape, PlaidConfig config, int unguidedSeqLen, int guidedSeqLen, double unguidedAnchor,
                          double guidedAnchor, List<GemmPrecision> precisions) {
        releaseGarbage(); // the previous phase's model and activations
        log("initialising the %s model (D %d, L %d, H %d, V %d)", shape, config.dim, config.nBlocks, config.nHeads, config.vocabSize);
        PlaidParameters params = PlaidParameters.initialize(config, gpu, 1);
        DiffusionSampler sampler = new DiffusionSampler(params, Math.max(unguidedSeqLen, guidedSeqLen));
        int[] prefix = new SplittableRandom(4).ints(GUIDANCE_PREFIX, 0, config.vocabSize).toArray();
        SamplingRequest unguided = SamplingRequest.defaults(unguidedSeqLen).withSamples(8);
        SamplingRequest guided = SamplingRequest.defaults(guidedSeqLen).withSamples(8).withGuidance(Guidance.prefix(prefix, GUIDANCE_WEIGHT));
        for (GemmPrecision precision : precisions) {
            gpu.gemmPrecision(precision);
            String mode = precision.name().toLowerCase(Locale.ROOT);
            guarded("sampling " + shape + " unguided " + mode, () -> rows.add(new Row(
                    "sampling, unguided, " + shape + ", 8 × " + unguidedSeqLen, mode, samplerStepMillis(sampler, unguided), unguidedAnchor, "ms/step")));
            guarded("sampling " + shape + " guided " + mode, () -> rows.add(new Row(
                    "sampling, prefix-guided (" + GUIDANCE_PREFIX + " tokens), " + shape + ", 8 × " + guidedSeqLen, mode,
                    samplerStepMillis(sampler, guided), guidedAnchor, "ms/step")));
        }
    }

    /**
     * One sampler step: (time of warm-up + timed steps − time of warm-up steps) ÷ timed steps,
     * each time the best of two runs so a stray allocation or collection does not skew the difference.
     */
    private double samplerStepMillis(DiffusionSampler sampler, SamplingRequest request) {
        sampler.sample(request.withSteps(BASELINE_SAMPLER_STEPS), NoiseSource.seeded(5)); // compiles kernels, warms the JIT
        double baseline = bestOfTwo(() -> sampler.sample(request.withSteps(BASELINE_SAMPLER_STEPS), NoiseSource.seeded(5)));
        double longer = bestOfTwo(() -> sampler.sample(request.withSteps(BASELINE_SAMPLER_STEPS + TIMED_SAMPLER_STEPS), NoiseSource.seeded(5)));
        return (longer - baseline) / TIMED_SAMPLER_STEPS;
    }

    private double bestOfTwo(Runnable work) {
        double best = Double.POSITIVE_INFINITY;
        for (int i = 0; i < 2; i++) {
            releaseGarbage();
            best = Math.min(best, timeMillis(work));
        }
        return best;
    }

    // ---- training -----------------------------------------------------------------

    private void training(List<GemmPrecision> precisions) {
        PlaidConfig c = config(384, 16, 6);
        c.batchSize = Integer.getInteger("plaid.bench.trainingBatch", 256);
        releaseGarbage(); // the sampling phases' models and activations
        log("initialising the small model for training at batch %d, seq %d", c.batchSize, c.seqLen);
        PlaidParameters params = PlaidParameters.initialize(c, gpu, 1);
        SplittableRandom tokens = new SplittableRandom(2);
        Trainer trainer = new Trainer(params, new RandomSource(3), (n, seqLen) -> tokens.ints((long) n * seqLen, 0, c.vocabSize).toArray(), 0);
        String shape = "small, batch " + c.batchSize + " × seq " + c.seqLen;
        double tokensPerStep = (double) c.batchSize * c.seqLen;
        int[] step = {0};
        IntConsumer steps = count -> {
            for (int i = 0; i < count; i++) trainer.step(step[0]++);
        };
        for (GemmPrecision precision : precisions) {
            gpu.gemmPrecision(precision);
            String mode = precision.name().toLowerCase(Locale.ROOT);
            guarded("training " + mode, () -> {
                releaseGarbage();
                gpu.resetPeakAllocatedBytes();
                steps.accept(WARMUP_TRAINING_STEPS);
                double millis = timeMillis(() -> steps.accept(TIMED_TRAINING_STEPS)) / TIMED_TRAINING_STEPS;
                rows.add(new Row("training step, " + shape, mode, millis, 450, "ms/step"));
                rows.add(new Row("training throughput, " + shape, mode, tokensPerStep / millis, 146, "k tokens/s"));
                rows.add(new Row("peak device memory, training, " + shape, mode, gpu.peakAllocatedBytes() / (double) (1L << 30), 57.4, "GiB"));
                printProfile("one training step, " + shape + ", " + mode, () -> steps.accept(1));
            });
        }
        gpu.gemmPrecision(precisions.getFirst());
        String mode = precisions.getFirst().name().toLowerCase(Locale.ROOT) + ", per-query attention";
        guarded("training " + mode, () -> {
            gpu.tiledAttention(false);
            try {
                steps.accept(1);
                double millis = timeMillis(() -> steps.accept(TIMED_TRAINING_STEPS)) / TIMED_TRAINING_STEPS;
                rows.add(new Row("training step, " + shape, mode, millis, 450, "ms/step"));
            } finally {
                gpu.tiledAttention(true);
            }
        });
    }

    // ---- measuring and reporting --------------------------------------------------

    /** Wall-clock milliseconds of work that ends by reading a result back (which waits for the device). */
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
        System.out.printf("%nper-op time, %s: %.1f ms unprofiled, %.1f ms profiled (each op synchronised), ops %.1f ms, host between ops %.1f ms%n",
                what, unprofiled, profiled, total, profiled - total);
        System.out.printf("%-40s %8s %10s %7s%n", "op", "calls", "ms", "share");
        for (OpTiming op : ops.subList(0, Math.min(PROFILE_ROWS, ops.size()))) {
            System.out.printf("%-40s %8d %10.2f %6.1f%%%n", op.op(), op.calls(), op.milliseconds(), 100 * op.milliseconds() / total);
        }
        System.out.flush();
    }

    private void printTable() {
        System.out.printf("%n| work | mode | ours | original | unit | ours ÷ original |%n|---|---|---|---|---|---|%n");
        for (Row r : rows) {
            System.out.printf("| %s | %s | %.1f | %.1f | %s | %.2f |%n", r.work(), r.mode(), r.ours(), r.original(), r.unit(), r.ours() / r.original());
        }
        System.out.println("\n(for ms and GiB below 1 is better; for tokens/s above 1 is better)");
    }

    private static void log(String format, Object... args) {
        System.out.printf("[bench] " + format + "%n", args);
        System.out.flush();
    }
}

package plaid.bench;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import plaid.backend.cuda.CudaBackend;
import plaid.backend.cuda.GemmPrecision;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.model.TrainingMemory;
import plaid.model.head.HeadChunks;
import plaid.options.PlaidConfig;

/**
 * Peak device memory and step time of the small model's training step (D 384, L 16, H 6, seq 256,
 * V 32768, batch 256 unless {@code -Dplaid.bench.trainingBatch}), in the GEMM precision of
 * {@code -Dplaid.bench.precision} (default bf16), in three {@link TrainingMemory} plans: {@code chunked}
 * (the output head in chunks, sized for the card or {@code -Dplaid.bench.chunkRows}, and the
 * self-conditioning pass {@code -Dplaid.bench.selfcondRows} rows at a time, default 16), {@code head}
 * (the chunked head alone) and {@code whole} (as before issue 17), each with every number of recomputed
 * blocks ({@link TrainingMemory#recomputedBlocks}) in {@code -Dplaid.bench.recomputedBlocks} (default
 * {@code 0,8,16}: none, half, all; {@code auto} as training would choose): the memory target is
 * ≤ 20 GiB against the original's 57.4. Each configuration trains a fresh model: {@value #WARMUP_STEPS}
 * steps to compile kernels and settle the JIT, then {@code -Dplaid.bench.timedSteps} (default
 * {@value #DEFAULT_TIMED_STEPS}) timed ones, whose peak of allocated device bytes (tensors, scratch and
 * staged arguments; garbage not yet collected counts too) is printed. {@code -Dplaid.bench.chunkModes}
 * picks the plans, default {@code chunked}.
 */
public final class TrainingMemoryBenchmark {
    private static final int WARMUP_STEPS = 3, DEFAULT_TIMED_STEPS = 20;
    /** The original's figures for this step on the H200 (anchors.md): peak GiB and settled ms/step. */
    private static final double ORIGINAL_PEAK_GIB = 57.4, ORIGINAL_STEP_MS = 340;

    private record Row(
            String mode,
            int chunkRows,
            int selfcondRows,
            int recomputedBlocks,
            double peakGiB,
            double stepMillis,
            double heldGiB) {}

    private TrainingMemoryBenchmark() {}

    public static void main(String[] args) {
        GemmPrecision precision = GemmPrecision.valueOf(
                System.getProperty("plaid.bench.precision", "bf16").trim().toUpperCase(Locale.ROOT));
        PlaidConfig c = PlaidConfig.defaults();
        c.dim = 384;
        c.nBlocks = 16;
        c.nHeads = 6;
        c.seqLen = 256;
        c.batchSize = Integer.getInteger("plaid.bench.trainingBatch", 256);
        c.validate();
        int timedSteps = Integer.getInteger("plaid.bench.timedSteps", DEFAULT_TIMED_STEPS);
        if (timedSteps < 1)
            throw new IllegalArgumentException("plaid.bench.timedSteps: expected at least 1, got " + timedSteps);
        List<Row> rows = new ArrayList<>();
        try (CudaBackend base = new CudaBackend()) {
            CudaBackend gpu = base.withOptions(base.options().withPrecision(precision));
            log(
                    "device memory %.1f GiB; small model, batch %d × seq %d, V %d, %s",
                    gib(gpu.deviceMemoryBytes().orElseThrow()), c.batchSize, c.seqLen, c.vocabSize, precision);
            for (String mode :
                    System.getProperty("plaid.bench.chunkModes", "chunked").split(",")) {
                HeadChunks chunks =
                        HeadChunks.parse(System.getProperty("plaid.bench.chunkRows", "auto"), gpu, c.vocabSize);
                int selfcondRows = Integer.getInteger("plaid.bench.selfcondRows", 16);
                TrainingMemory memory = switch (mode.trim()) {
                    case "chunked" -> new TrainingMemory(chunks, selfcondRows);
                    case "head" -> new TrainingMemory(chunks, 0);
                    case "whole" -> TrainingMemory.WHOLE;
                    default ->
                        throw new IllegalArgumentException(
                                "plaid.bench.chunkModes: expected chunked, head or whole, got '" + mode + "'");
                };
                for (String blocks : System.getProperty("plaid.bench.recomputedBlocks", "0,8,16")
                        .split(",")) {
                    TrainingMemory plan;
                    try {
                        plan = memory.withRecomputedBlocks(TrainingMemory.recomputedBlocks(blocks, gpu, c));
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException("plaid.bench.recomputedBlocks: " + e.getMessage(), e);
                    }
                    try {
                        rows.add(measure(gpu, c, mode.trim(), plan, timedSteps));
                    } catch (RuntimeException e) {
                        log("FAILED %s, %s blocks recomputed: %s", mode, blocks, e);
                    }
                    releaseGarbage();
                }
            }
        }
        System.out.printf(
                "%n%-8s %10s %8s %10s %10s %12s %10s %12s %10s %10s%n",
                "memory",
                "chunk rows",
                "sc rows",
                "recomputed",
                "peak GiB",
                "÷ original",
                "ms/step",
                "÷ original",
                "÷ none",
                "held GiB");
        for (Row r : rows) {
            // the step time against the same plan's with no block recomputed, when that ran
            Row none = rows.stream()
                    .filter(o -> o.mode().equals(r.mode()) && o.recomputedBlocks() == 0)
                    .findFirst()
                    .orElse(null);
            System.out.printf(
                    "%-8s %10s %8s %10d %10.2f %12.2f %10.1f %12.2f %10s %10.2f%n",
                    r.mode(),
                    r.chunkRows() > 0 ? Integer.toString(r.chunkRows()) : "whole",
                    r.selfcondRows() > 0 ? Integer.toString(r.selfcondRows()) : "all",
                    r.recomputedBlocks(),
                    r.peakGiB(),
                    r.peakGiB() / ORIGINAL_PEAK_GIB,
                    r.stepMillis(),
                    r.stepMillis() / ORIGINAL_STEP_MS,
                    none == null ? "-" : String.format(Locale.ROOT, "%.2f", r.stepMillis() / none.stepMillis()),
                    r.heldGiB());
        }
        System.out.printf(
                "(original, H200, anchors.md: %.1f GiB peak, %.0f ms/step settled; recomputed: blocks of %d that"
                        + " rerun their forward in the backward; held: allocated after the steps)%n",
                ORIGINAL_PEAK_GIB, ORIGINAL_STEP_MS, c.nBlocks);
    }

    private static Row measure(CudaBackend gpu, PlaidConfig c, String mode, TrainingMemory memory, int timedSteps) {
        // the trainer's objective reads its memory plan from the properties when it is built
        Map<String, String> properties = Map.of(
                HeadChunks.PROPERTY,
                memory.headChunks().on() ? Integer.toString(memory.headChunks().rows()) : "off",
                TrainingMemory.SELFCOND_ROWS_PROPERTY,
                Integer.toString(memory.selfcondRowsPerPass()),
                TrainingMemory.RECOMPUTED_BLOCKS_PROPERTY,
                Integer.toString(memory.recomputedBlocks()));
        Map<String, String> old = new HashMap<>();
        properties.forEach((k, v) -> old.put(k, System.setProperty(k, v)));
        try {
            log("%s: initialising; %s", mode, memory);
            PlaidParameters params = PlaidParameters.initialize(c, gpu, 1);
            SplittableRandom tokens = new SplittableRandom(2);
            Trainer trainer = new Trainer(
                    c,
                    params,
                    new RandomSource(3),
                    (n, seqLen) ->
                            tokens.ints((long) n * seqLen, 0, c.vocabSize).toArray(),
                    0);
            int step = 0;
            for (int i = 0; i < WARMUP_STEPS; i++) trainer.step(step++);
            releaseGarbage();
            gpu.synchronize();
            gpu.resetPeakAllocatedBytes();
            long start = System.nanoTime();
            for (int i = 0; i < timedSteps; i++) trainer.step(step++);
            gpu.synchronize();
            double millis = (System.nanoTime() - start) / 1e6 / timedSteps;
            Row row = new Row(
                    mode,
                    memory.headChunks().rows(),
                    memory.selfcondRowsPerPass(),
                    memory.recomputedBlocks(),
                    gib(gpu.peakAllocatedBytes()),
                    millis,
                    gib(gpu.allocatedBytes()));
            log(
                    "%s, %d blocks recomputed: peak %.2f GiB, %.1f ms/step",
                    mode, memory.recomputedBlocks(), row.peakGiB(), row.stepMillis());
            return row;
        } finally {
            old.forEach((k, v) -> {
                if (v == null) System.clearProperty(k);
                else System.setProperty(k, v);
            });
        }
    }

    private static double gib(long bytes) {
        return bytes / (double) (1L << 30);
    }

    private static void releaseGarbage() {
        System.gc();
        try {
            Thread.sleep(200); // the Cleaner frees on its own thread
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void log(String format, Object... args) {
        System.out.printf("[memory] " + format + "%n", args);
        System.out.flush();
    }
}

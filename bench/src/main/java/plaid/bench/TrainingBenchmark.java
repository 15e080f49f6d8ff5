package plaid.bench;

import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;
import plaid.backend.cuda.CudaBackend;
import plaid.backend.cuda.GemmPrecision;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.options.PlaidConfig;

/**
 * The small model's training step at batch 256 in each GEMM precision: ms/step, tokens/s, peak
 * device memory and a per-op profile; with fp32 first, also the step on the per-query attention kernels.
 */
final class TrainingBenchmark extends GpuMeasurements {
    private static final int WARMUP_TRAINING_STEPS = 2;
    private static final int TIMED_TRAINING_STEPS = 3;

    TrainingBenchmark(CudaBackend gpu, List<Row> rows) {
        super(gpu, rows);
    }

    /**
     * The shapes in {@code -Dplaid.bench.trainingShapes} (default {@code small}): {@code small} (D 384, L 16, H 6,
     * batch 256 × seq 256) and {@code 1024} (D 1024, L 16, H 16, batch 32 × seq 1024: the anchors' second training row).
     */
    void training(List<GemmPrecision> precisions) {
        for (String shape :
                System.getProperty("plaid.bench.trainingShapes", "small").split(",")) {
            switch (shape.trim()) {
                case "small" -> {
                    PlaidConfig c = config(384, 16, 6);
                    c.batchSize = Integer.getInteger("plaid.bench.trainingBatch", 256);
                    training(c, "small", 450, 57.4, precisions);
                }
                case "1024" -> {
                    PlaidConfig c = config(1024, 16, 16);
                    c.seqLen = 1024;
                    c.batchSize = 32;
                    training(c.validate(), "D 1024, L 16", 750, Double.NaN, precisions);
                }
                default -> throw new IllegalArgumentException("plaid.bench.trainingShapes: unknown shape " + shape);
            }
        }
    }

    private void training(
            PlaidConfig c, String name, double originalMillis, double originalGiB, List<GemmPrecision> precisions) {
        releaseGarbage(); // the sampling phases' (or the last shape's) models and activations
        String shape = name + ", batch " + c.batchSize + " × seq " + c.seqLen;
        double tokensPerStep = (double) c.batchSize * c.seqLen;
        for (GemmPrecision precision : precisions) {
            String mode = precision.name().toLowerCase(Locale.ROOT);
            guarded("training " + mode, () -> {
                IntConsumer steps = trainingSteps(c, in(precision));
                releaseGarbage();
                gpu.resetPeakAllocatedBytes();
                steps.accept(WARMUP_TRAINING_STEPS);
                double millis = timeMillis(() -> steps.accept(TIMED_TRAINING_STEPS)) / TIMED_TRAINING_STEPS;
                rows.add(new Row("training step, " + shape, mode, millis, originalMillis, "ms/step"));
                rows.add(new Row(
                        "training throughput, " + shape,
                        mode,
                        tokensPerStep / millis,
                        tokensPerStep / originalMillis,
                        "k tokens/s"));
                rows.add(new Row(
                        "peak device memory, training, " + shape,
                        mode,
                        gpu.peakAllocatedBytes() / (double) (1L << 30),
                        originalGiB,
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
            rows.add(new Row("training step, " + shape, mode, millis, originalMillis, "ms/step"));
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
}

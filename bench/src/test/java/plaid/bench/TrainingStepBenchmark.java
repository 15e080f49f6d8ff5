package plaid.bench;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import plaid.backend.cpu.CpuBackend;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.options.PlaidConfig;

/**
 * Figures, not a pass/fail test: one optimiser step of the default small model
 * (D 384, L 16, H 6, seq 256, V 32768) on the CPU backend, in tokens per second.
 * Run: {@code ./mvnw -q test -pl bench -am -Dbench -Dtest=TrainingStepBenchmark -Dsurefire.failIfNoSpecifiedTests=false}
 * ({@code -Dplaid.bench.batch=N} sets the batch; the original's 256 needs ~30 GB here).
 */
@Tag("benchmark")
class TrainingStepBenchmark {

    @Test
    void smallModelTrainingStep() {
        PlaidConfig c = PlaidConfig.defaults();
        c.batchSize = Integer.getInteger("plaid.bench.batch", 8);
        c.validate();
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 1);
        SplittableRandom rng = new SplittableRandom(2);
        Trainer trainer = new Trainer(
                c,
                p,
                new RandomSource(3),
                (rows, seqLen) -> rng.ints(rows * seqLen, 0, c.vocabSize).toArray(),
                0);
        int warmup = 2, measured = 3;
        for (int s = 0; s < warmup; s++) trainer.step(s);
        long start = System.nanoTime();
        for (int s = warmup; s < warmup + measured; s++) trainer.step(s);
        double seconds = (System.nanoTime() - start) / 1e9 / measured;
        long tokens = (long) c.batchSize * c.seqLen;
        System.out.printf(
                "training step, small model (D %d, L %d, H %d, seq %d, batch %d, V %d) on %s with %d threads: %.2f s/step, %.0f tokens/s%n",
                c.dim,
                c.nBlocks,
                c.nHeads,
                c.seqLen,
                c.batchSize,
                c.vocabSize,
                p.backend().name(),
                Runtime.getRuntime().availableProcessors(),
                seconds,
                tokens / seconds);
        System.out.printf(
                "anchor: the original on one H200 runs batch 256 at ≈450 ms/step (≈146k tokens/s); ratio CPU/anchor tokens/s = %.4f%n",
                tokens / seconds / 146_000.0);
    }
}

package plaid.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.backend.cuda.CudaBackend;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.model.parallel.DataParallelTrainer;
import plaid.options.PlaidConfig;

/**
 * Data-parallel scaling on the GPUs of one machine (figures, not a test): for each shape, the
 * training step over 1, 2, 4, … GPUs up to {@code -Dplaid.scaling.gpus} at one global batch,
 * with tokens/s, the scaling efficiency (tokens/s on N ÷ N × tokens/s on 1), the all-reduce's
 * share of a step and its share not overlapped with the backward, and the peak device memory per GPU; then, with two GPUs or more, the loss
 * curves of a run on 2 GPUs and on 1 at the same global batch and seed, and their largest
 * difference. Run by gpu/scaling.sh, which counts the GPUs.
 *
 * <p>Properties: {@code plaid.scaling.gpus} (default 1), {@code plaid.scaling.shapes}
 * (small,1B; tiny to try it on the CPU with {@code -Dplaid.scaling.backend=cpu}), {@code plaid.scaling.steps} (timed steps, 5), {@code plaid.scaling.batch1B} (the
 * 1B shape's global batch, 16), {@code plaid.scaling.curveSteps} (200; 0 skips the curves), {@code plaid.scaling.curveShape} (small).
 */
public final class ScalingBenchmark {
    private record Result(
            int gpus,
            double millis,
            double tokensPerSecond,
            double allReduceShare,
            double exposedShare,
            double peakGiB) {}

    /** "cuda"; "cpu" runs the same code over the in-process reference collective, to try it here. */
    private static final String BACKEND = System.getProperty("plaid.scaling.backend", "cuda");

    public static void main(String[] args) {
        int gpus = Integer.getInteger("plaid.scaling.gpus", 1);
        int steps = Integer.getInteger("plaid.scaling.steps", 5);
        int curveSteps = Integer.getInteger("plaid.scaling.curveSteps", 200);
        System.out.printf(
                Locale.ROOT,
                "data-parallel scaling, %d GPU(s) found, precision %s%n",
                gpus,
                System.getProperty("plaid.cuda.precision", "(default)"));
        for (String shape :
                System.getProperty("plaid.scaling.shapes", "small,1B").split(",")) {
            PlaidConfig c = shape(shape.trim());
            List<Result> results = new ArrayList<>();
            for (int n = 1; n <= gpus; n *= 2) {
                if (c.batchSize % n != 0) break;
                try {
                    results.add(measure(c, n, steps));
                } catch (RuntimeException e) {
                    System.out.printf("%s on %d GPU(s): failed: %s%n", shape, n, e);
                    break;
                }
            }
            print(shape, c, results);
        }
        if (gpus >= 2 && curveSteps > 0) curves(System.getProperty("plaid.scaling.curveShape", "small"), curveSteps);
    }

    private static PlaidConfig shape(String name) {
        PlaidConfig c = PlaidConfig.defaults();
        switch (name) {
            case "small" -> {
                c.dim = 384;
                c.nBlocks = 16;
                c.nHeads = 6;
                c.seqLen = 256;
                c.batchSize = 256;
            }
            case "1B" -> {
                c.dim = 2048;
                c.nBlocks = 24;
                c.nHeads = 32;
                c.seqLen = 1024;
                c.batchSize = Integer.getInteger("plaid.scaling.batch1B", 16);
            }
            case "tiny" -> { // a smoke test of the benchmark itself, on the CPU
                c.dim = 64;
                c.nBlocks = 2;
                c.nHeads = 2;
                c.seqLen = 32;
                c.batchSize = 8;
                c.vocabSize = 512;
            }
            default -> throw new IllegalArgumentException("plaid.scaling.shapes: unknown shape " + name);
        }
        return c.validate();
    }

    private static Result measure(PlaidConfig c, int n, int steps) {
        List<ComputeBackend> backends = ComputeBackends.createRanks(BACKEND, n);
        try {
            try (DataParallelTrainer dp = trainer(c, backends, 1)) {
                for (int i = 0; i < 2; i++) dp.step(i); // the kernels' compilation, cuBLASLt's plans, NCCL's set-up
                for (ComputeBackend b : backends) if (b instanceof CudaBackend cuda) cuda.resetPeakAllocatedBytes();
                double share = 0, exposed = 0;
                long start = System.nanoTime();
                for (int i = 0; i < steps; i++) {
                    DataParallelTrainer.Step step = dp.step(2 + i);
                    share += step.allReduceShare();
                    exposed += step.exposedAllReduceShare();
                }
                double millis = (System.nanoTime() - start) / 1e6 / steps;
                double peak = 0;
                for (ComputeBackend b : backends)
                    if (b instanceof CudaBackend cuda)
                        peak = Math.max(peak, cuda.peakAllocatedBytes() / (double) (1L << 30));
                double tokens = (double) c.batchSize * c.gradAccumSteps * c.seqLen;
                return new Result(n, millis, tokens / millis * 1e3, share / steps, exposed / steps, peak);
            }
        } finally {
            for (ComputeBackend b : backends) b.close();
        }
    }

    private static DataParallelTrainer trainer(PlaidConfig c, List<ComputeBackend> backends, long tokenSeed) {
        List<PlaidParameters> replicas = new ArrayList<>();
        for (ComputeBackend b : backends) replicas.add(PlaidParameters.initialize(c, b, 1));
        SplittableRandom tokens = new SplittableRandom(tokenSeed);
        Trainer.BatchSource batches = (rows, seqLen) ->
                tokens.ints((long) rows * seqLen, 0, c.vocabSize).toArray();
        return new DataParallelTrainer(
                c, replicas, ComputeBackends.collective(backends), new RandomSource(3), batches, 0);
    }

    private static void print(String shape, PlaidConfig c, List<Result> results) {
        System.out.printf(
                Locale.ROOT,
                "%n%s: D %d, L %d, H %d, seq %d, global batch %d%n",
                shape,
                c.dim,
                c.nBlocks,
                c.nHeads,
                c.seqLen,
                c.batchSize * c.gradAccumSteps);
        System.out.printf(
                "%5s %12s %14s %11s %16s %14s %16s%n",
                "GPUs", "ms/step", "tokens/s", "efficiency", "all-reduce share", "not overlapped", "peak GiB per GPU");
        if (results.isEmpty()) return;
        double one = results.getFirst().tokensPerSecond();
        for (Result r : results)
            System.out.printf(
                    Locale.ROOT,
                    "%5d %12.1f %14.0f %11.3f %16.3f %14.3f %16.2f%n",
                    r.gpus(),
                    r.millis(),
                    r.tokensPerSecond(),
                    r.tokensPerSecond() / (r.gpus() * one),
                    r.allReduceShare(),
                    r.exposedShare(),
                    r.peakGiB());
    }

    /** The loss curves on 1 and on 2 GPUs, same global batch and seed: their largest difference. */
    private static void curves(String shape, int steps) {
        PlaidConfig c = shape(shape);
        double[] one = curve(c, 1, steps), two = curve(c, 2, steps);
        double largest = 0, largestRelative = 0;
        int at = 0;
        for (int i = 0; i < steps; i++) {
            double d = Math.abs(one[i] - two[i]);
            if (d > largest) {
                largest = d;
                at = i;
            }
            largestRelative = Math.max(largestRelative, d / Math.abs(one[i]));
        }
        System.out.printf(
                Locale.ROOT,
                "%nloss curves, %s shape, %d steps, 2 GPUs against 1: largest difference %.3g at step %d "
                        + "(%.3g relative); final loss %.5f on 1, %.5f on 2%n",
                shape,
                steps,
                largest,
                at,
                largestRelative,
                one[steps - 1],
                two[steps - 1]);
    }

    private static double[] curve(PlaidConfig c, int n, int steps) {
        List<ComputeBackend> backends = ComputeBackends.createRanks(BACKEND, n);
        try (DataParallelTrainer dp = trainer(c, backends, 7)) {
            double[] losses = new double[steps];
            for (int i = 0; i < steps; i++) losses[i] = dp.step(i).metrics().loss();
            return losses;
        } finally {
            for (ComputeBackend b : backends) b.close();
        }
    }
}

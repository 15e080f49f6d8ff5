package plaid.trainer;

import java.util.Arrays;
import java.util.Optional;
import java.util.function.IntConsumer;
import java.util.function.Supplier;
import plaid.model.Optimizer;
import plaid.model.Trainer;
import plaid.model.parallel.DataParallelTrainer;

/**
 * The ranks this process trains, as {@link TrainingLoop} drives them: one {@link Trainer} alone
 * (one device), or a {@link DataParallelTrainer}'s (all N ranks of a one-machine job, or a cluster
 * worker's share of a larger world).
 */
interface RankGroup {
    /** The first local rank's trainer: what a checkpoint saves. */
    Trainer primary();

    /** Whether this process holds global rank 0, whose process writes the checkpoints and reports. */
    boolean holdsRankZero();

    /** The ranks of the whole world, over every process. */
    int worldSize();

    /** Optimiser step {@code step} over the world: the metrics of the whole global batch. */
    Trainer.StepMetrics step(int step);

    /** train.py's validation NLL, each rank evaluating its share of the batches. */
    double validationNll(Trainer.BatchSource val, int batches, int batchSize, long seed, IntConsumer afterBatch);

    /**
     * The optimiser state a checkpoint saves, in global rank 0's process (elsewhere null). Under
     * ZeRO-1 the moments are gathered from their owners: every process calls it at the same point.
     */
    Optimizer.State checkpointState();

    /** Runs {@code body} where the primary rank's device is current. */
    <T> T onPrimary(Supplier<T> body);

    /** Whether any process of the world passes true (every process calls it at the same point). */
    boolean anyProcess(boolean flag);

    /**
     * Each local rank's throughput over the {@code steps} steps since the last call, the
     * all-reduce's largest share of a step and its largest share not overlapped with the backward
     * (docs/data-parallel.md); empty for one rank alone.
     */
    Optional<String> rankReport(long tokensPerStep, int steps);

    static RankGroup of(Trainer trainer) {
        return new RankGroup() {
            @Override
            public Trainer primary() {
                return trainer;
            }

            @Override
            public boolean holdsRankZero() {
                return true;
            }

            @Override
            public int worldSize() {
                return 1;
            }

            @Override
            public Trainer.StepMetrics step(int step) {
                return trainer.step(step);
            }

            @Override
            public double validationNll(
                    Trainer.BatchSource val, int batches, int batchSize, long seed, IntConsumer afterBatch) {
                return trainer.validationNll(val, batches, batchSize, seed, afterBatch);
            }

            @Override
            public Optimizer.State checkpointState() {
                return trainer.optimizer().state();
            }

            @Override
            public <T> T onPrimary(Supplier<T> body) {
                return body.get();
            }

            @Override
            public boolean anyProcess(boolean flag) {
                return flag;
            }

            @Override
            public Optional<String> rankReport(long tokensPerStep, int steps) {
                return Optional.empty();
            }
        };
    }

    static RankGroup of(DataParallelTrainer dp) {
        return new RankGroup() {
            /** Per local rank since the last report: seconds of its steps, its gradient all-reduce, the part waited for. */
            private final double[] rankSeconds = new double[dp.ranks()],
                    allReduceSeconds = new double[dp.ranks()],
                    exposedSeconds = new double[dp.ranks()];

            @Override
            public Trainer primary() {
                return dp.primary();
            }

            @Override
            public boolean holdsRankZero() {
                return dp.firstRank() == 0;
            }

            @Override
            public int worldSize() {
                return dp.worldSize();
            }

            @Override
            public Trainer.StepMetrics step(int step) {
                DataParallelTrainer.Step s = dp.step(step);
                for (int r = 0; r < rankSeconds.length; r++) {
                    rankSeconds[r] += s.rankSeconds()[r];
                    allReduceSeconds[r] += s.allReduceSeconds()[r];
                    exposedSeconds[r] += s.exposedAllReduceSeconds()[r];
                }
                return s.metrics();
            }

            @Override
            public double validationNll(
                    Trainer.BatchSource val, int batches, int batchSize, long seed, IntConsumer afterBatch) {
                return dp.validationNll(val, batches, batchSize, seed, afterBatch);
            }

            @Override
            public Optimizer.State checkpointState() {
                return dp.checkpointState();
            }

            @Override
            public <T> T onPrimary(Supplier<T> body) {
                return dp.onPrimary(body);
            }

            @Override
            public boolean anyProcess(boolean flag) {
                return dp.anyProcess(flag);
            }

            @Override
            public Optional<String> rankReport(long tokensPerStep, int steps) {
                StringBuilder perRank = new StringBuilder();
                double tokens = (double) tokensPerStep / dp.worldSize() * steps;
                for (int r = 0; r < rankSeconds.length; r++)
                    perRank.append(r == 0 ? "" : ", ")
                            .append("%d: %.0f tokens/s"
                                    .formatted(dp.firstRank() + r, tokens / Math.max(rankSeconds[r], 1e-9)));
                double share = DataParallelTrainer.Step.largestShare(allReduceSeconds, rankSeconds);
                double exposed = DataParallelTrainer.Step.largestShare(exposedSeconds, rankSeconds);
                Arrays.fill(rankSeconds, 0);
                Arrays.fill(allReduceSeconds, 0);
                Arrays.fill(exposedSeconds, 0);
                return Optional.of("ranks %s; gradient all-reduce %.1f%% of a step, %.1f%% not overlapped"
                        .formatted(perRank, 100 * share, 100 * exposed));
            }
        };
    }
}

package plaid.model.parallel;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntConsumer;
import java.util.function.Supplier;
import plaid.backend.Collective;
import plaid.backend.GradientBuckets;
import plaid.model.DiffusionObjective;
import plaid.model.Optimizer;
import plaid.model.Parameter;
import plaid.model.ParameterGroup;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.ReconstBatchSize;
import plaid.model.Trainer;
import plaid.options.PlaidConfig;

/**
 * train.py under DDP on N ranks of one machine (docs/data-parallel.md): each rank has its own
 * backend, parameter replica and {@link Trainer}; rank 0's trainer draws the step (tokens and
 * randomness of the global batch, as one device would), every rank computes its slice of each
 * micro-step on its own thread, the gradients are averaged in buckets ({@link GradientBuckets}),
 * the reconst_bs statistics and the loss terms are averaged, and every rank runs the same
 * optimiser step on the same gradients, so the replicas stay identical. With the same global
 * batch the run is the one-rank run up to float rounding, whatever N.
 */
public final class DataParallelTrainer implements AutoCloseable {
    /**
     * A step's metrics (of the whole batch) and each rank's timings: its step, its gradient
     * all-reduce (on a GPU, from the first bucket's start to the last one's end on the
     * communication stream, timed there) and the part of that the rank waited for after its
     * backward (the rest overlapped the backward; on the CPU, all of it).
     */
    public record Step(
            Trainer.StepMetrics metrics,
            double[] rankSeconds,
            double[] allReduceSeconds,
            double[] exposedAllReduceSeconds,
            int bucketsStartedInBackward) {
        /** The largest share of a rank's step spent in the gradient all-reduce. */
        public double allReduceShare() {
            return largestShare(allReduceSeconds, rankSeconds);
        }

        /** The largest share of a rank's step spent waiting for the all-reduce after its backward. */
        public double exposedAllReduceShare() {
            return largestShare(exposedAllReduceSeconds, rankSeconds);
        }

        /** The largest of {@code part[r] / whole[r]}. */
        public static double largestShare(double[] part, double[] whole) {
            double share = 0;
            for (int r = 0; r < whole.length; r++) share = Math.max(share, part[r] / Math.max(whole[r], 1e-12));
            return share;
        }
    }

    private final List<Trainer> trainers = new ArrayList<>();
    private final List<Collective> collectives;
    private final List<GradientBuckets> buckets = new ArrayList<>();
    /** One thread per rank, so a rank always runs where its device context is current. */
    private final List<ExecutorService> threads = new ArrayList<>();

    /** Per rank: main-pass backwards done this step (a bucket may start only in the last one). */
    private final int[] backwards;
    /** Per rank, per block: the indices in {@code parameters().all()} of the block's weights. */
    private final List<int[][]> blockParameters = new ArrayList<>();

    private final int accum;
    /** This process's ranks are firstRank .. firstRank + ranks() - 1 of a world of worldSize ranks. */
    private final int firstRank, worldSize;

    private boolean broken;
    /** Under ZeRO-1 ({@link #shardOptimizerState}), each parameter's owning global rank; else null. */
    private int[] owners;

    /**
     * @param c the run's options (every replica's shapes)
     * @param replicas one parameter replica per rank, each on its rank's backend, identical values
     * @param collectives one handle per rank of one group, rank i's at index i
     * @param batches the global batch's token source, read by rank 0 only
     */
    public DataParallelTrainer(
            PlaidConfig c,
            List<PlaidParameters> replicas,
            List<Collective> collectives,
            RandomSource random,
            Trainer.BatchSource batches,
            int firstStep) {
        this(c, replicas, collectives, random, batches, firstStep, GradientBuckets.DEFAULT_CAP_BYTES);
    }

    /** @param bucketCapBytes the gradient buckets' size (DDP's bucket_cap_mb) */
    public DataParallelTrainer(
            PlaidConfig c,
            List<PlaidParameters> replicas,
            List<Collective> collectives,
            RandomSource random,
            Trainer.BatchSource batches,
            int firstStep,
            long bucketCapBytes) {
        this(c, replicas, collectives, random, batches, firstStep, bucketCapBytes, 0, replicas.size());
    }

    /**
     * This process's share of a larger world (one worker of a multi-machine job): replica i is
     * global rank {@code firstRank + i} of {@code worldSize}, and its collective spans the world.
     * Every process draws each step itself from the same seed and data stream (its first local
     * rank reads {@code batches}), so all draw the same global batch; each computes its ranks'
     * slices, and the all-reduces make the step the world's.
     */
    public DataParallelTrainer(
            PlaidConfig c,
            List<PlaidParameters> replicas,
            List<Collective> collectives,
            RandomSource random,
            Trainer.BatchSource batches,
            int firstStep,
            long bucketCapBytes,
            int firstRank,
            int worldSize) {
        if (replicas.isEmpty() || replicas.size() != collectives.size())
            throw new IllegalArgumentException(
                    replicas.size() + " replicas for " + collectives.size() + " collective ranks");
        int n = replicas.size();
        if (firstRank < 0 || firstRank + n > worldSize)
            throw new IllegalArgumentException(
                    "ranks " + firstRank + ".." + (firstRank + n - 1) + " outside a world of " + worldSize);
        int batchSize = c.batchSize;
        if (batchSize % worldSize != 0)
            throw new IllegalArgumentException(
                    "batch_size " + batchSize + " must be divisible by the " + worldSize + " devices");
        this.collectives = List.copyOf(collectives);
        this.backwards = new int[n];
        this.accum = c.gradAccumSteps;
        this.firstRank = firstRank;
        this.worldSize = worldSize;
        for (int r = 0; r < n; r++) {
            if (collectives.get(r).rank() != firstRank + r || collectives.get(r).ranks() != worldSize)
                throw new IllegalArgumentException(
                        "collective " + r + " is rank " + collectives.get(r).rank() + " of "
                                + collectives.get(r).ranks() + ", expected " + (firstRank + r) + " of " + worldSize);
            Trainer.BatchSource source = r == 0
                    ? batches
                    : (rows, seqLen) -> {
                        throw new IllegalStateException("only the first local rank reads the batches");
                    };
            Trainer t = new Trainer(c, replicas.get(r), random, source, firstStep);
            trainers.add(t);
            buckets.add(new GradientBuckets(
                    collectives.get(r),
                    replicas.get(r).all().stream().map(Parameter::grad).toList(),
                    bucketCapBytes));
            int rank = r;
            blockParameters.add(blockParameterIndices(c, replicas.get(r)));
            // The denoiser of this rank's main pass tells when a block's gradients are final.
            t.objective().denoiser(batchSize / worldSize, c.seqLen).onBlockBackward(block -> blockDone(rank, block));
            threads.add(Executors.newSingleThreadExecutor(
                    Thread.ofPlatform().name("plaid-rank-" + rank).daemon().factory()));
        }
    }

    private static int[][] blockParameterIndices(PlaidConfig c, PlaidParameters params) {
        int blocks = c.nBlocks;
        List<List<Integer>> byBlock = new ArrayList<>();
        for (int b = 0; b < blocks; b++) byBlock.add(new ArrayList<>());
        List<Parameter> all = params.all();
        for (int i = 0; i < all.size(); i++) {
            Parameter p = all.get(i);
            if (p.group() != ParameterGroup.MODEL || !p.name().startsWith("blocks.")) continue;
            int b = Integer.parseInt(
                    p.name().substring("blocks.".length(), p.name().indexOf('.', "blocks.".length())));
            byBlock.get(b).add(i);
        }
        return byBlock.stream()
                .map(l -> l.stream().mapToInt(Integer::intValue).toArray())
                .toArray(int[][]::new);
    }

    /** Block {@code block}'s backward finished on {@code rank}: in the step's last micro-batch its gradients are final. */
    private void blockDone(int rank, int block) {
        if (backwards[rank] == accum - 1)
            for (int i : blockParameters.get(rank)[block]) buckets.get(rank).ready(i);
        if (block == 0) backwards[rank]++;
    }

    /** This process's ranks. */
    public int ranks() {
        return trainers.size();
    }

    /** The global rank of this process's first rank. */
    public int firstRank() {
        return firstRank;
    }

    /** The ranks of the whole world, over every process. */
    public int worldSize() {
        return worldSize;
    }

    /** The first local rank's trainer: its parameters, optimiser and statistics are every rank's; checkpoints save it. */
    public Trainer primary() {
        return trainers.get(0);
    }

    public List<Trainer> trainers() {
        return List.copyOf(trainers);
    }

    /**
     * ZeRO-1 ({@code --zero=1}): partitions the parameters over the world's ranks as
     * ZeroRedundancyOptimizer does (largest first, each to the rank holding the fewest elements
     * so far) and shards every local rank's optimiser ({@link Optimizer#shard}): each keeps only
     * its parameters' AdamW moments. Every process calls it, before the first step or restore.
     */
    public void shardOptimizerState() {
        owners = partition(primary().parameters().all(), worldSize);
        for (int r = 0; r < ranks(); r++) trainers.get(r).optimizer().shard(collectives.get(r), owners);
    }

    /** Parameter i's rank: by size, largest first (ties in parameter order), to the least loaded rank (ties: lowest). */
    static int[] partition(List<Parameter> params, int ranks) {
        long[] numel = new long[params.size()];
        for (int i = 0; i < numel.length; i++) {
            long n = 1;
            for (int d : params.get(i).shape()) n *= d;
            numel[i] = n;
        }
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < numel.length; i++) order.add(i);
        order.sort((a, b) -> Long.compare(numel[b], numel[a]));
        long[] load = new long[ranks];
        int[] owners = new int[numel.length];
        for (int i : order) {
            int least = 0;
            for (int r = 1; r < ranks; r++) if (load[r] < load[least]) least = r;
            owners[i] = least;
            load[least] += numel[i];
        }
        return owners;
    }

    /**
     * The optimiser state a checkpoint saves: the first local rank's where this process holds
     * global rank 0, else null. Under ZeRO-1 the moments are gathered from their owners, a
     * collective: then every process must call it at the same point.
     */
    public Optimizer.State checkpointState() {
        if (owners == null)
            return firstRank == 0 ? onPrimary(() -> primary().optimizer().state()) : null;
        return onAllRanks(r -> trainers.get(r).optimizer().gatheredState(firstRank + r == 0))
                .getFirst();
    }

    /** Runs {@code body} on rank 0's thread (where its device is current) and returns its value. */
    public <T> T onPrimary(Supplier<T> body) {
        try {
            return threads.get(0).submit(body::get).get();
        } catch (ExecutionException e) {
            throw rethrow(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Makes every replica global rank 0's (after a fresh initialisation or a restore on rank 0 only). */
    public void broadcastFromPrimary() {
        onAllRanks(r -> {
            for (Parameter p : trainers.get(r).parameters().all())
                collectives.get(r).broadcast(p.value(), 0);
            return null;
        });
    }

    /**
     * Whether {@code flag} is set in any process of the world (a stop one worker was asked
     * for): every process must call it at the same point, and all get the same answer, so all
     * leave the loop at the same step instead of leaving peers waiting in a collective.
     */
    public boolean anyProcess(boolean flag) {
        if (ranks() == worldSize) return flag; // the whole world is this process
        return onAllRanks(r -> collectives.get(r).allReduce(new double[] {flag ? 1 : 0}, Collective.Op.SUM)[0] > 0)
                .getFirst();
    }

    /** Runs optimiser step {@code step} over every rank: the metrics of the whole global batch. */
    public Step step(int step) {
        long start = System.nanoTime();
        Trainer.StepDraw draw = onPrimary(() -> primary().draw(step));
        int n = ranks();
        double[] rankSeconds = new double[n], allReduceSeconds = new double[n], exposed = new double[n];
        List<Trainer.StepMetrics> metrics = onAllRanks(r -> {
            long rankStart = System.nanoTime();
            backwards[r] = 0;
            Trainer t = trainers.get(r);
            Trainer.Sums local = t.accumulate(draw, firstRank + r, worldSize);
            GradientBuckets b = buckets.get(r);
            b.finish();
            Trainer.Sums global = averageStatistics(r, local, t.reconstBatchSize());
            Collective.ReductionTimes times = b.takeTimes();
            allReduceSeconds[r] = times.spanSeconds();
            exposed[r] = times.exposedSeconds();
            Trainer.StepMetrics m = t.finish(step, global, start);
            rankSeconds[r] = (System.nanoTime() - rankStart) / 1e9;
            return m;
        });
        return new Step(
                metrics.get(0),
                rankSeconds,
                allReduceSeconds,
                exposed,
                buckets.get(0).startedEarly());
    }

    /**
     * train.py's validation ({@link Trainer#validationNll}) over the world's ranks: every process
     * draws the batches in order as one device does (the same stream and noise), global rank
     * {@code i % worldSize} evaluates batch i, and the per-batch NLL sums, zero where another
     * rank's, are all-reduced and added in batch order. Adding zeros is exact, so where a batch's
     * forward is the same on every rank the result is the one-device number bit for bit.
     * {@code afterBatch} hears of each batch on the calling thread once its round of
     * {@code worldSize} batches is done; an exception it throws ends the pass, every rank's live
     * weights restored (in a multi-process world, every process must throw at the same batch).
     */
    public double validationNll(
            Trainer.BatchSource val, int steps, int batchSize, long evalSeed, IntConsumer afterBatch) {
        PlaidConfig c = primary().config();
        SplittableRandom rng = new SplittableRandom(evalSeed);
        double[][] sums = new double[ranks()][steps];
        List<List<float[]>> live = onAllRanks(r -> trainers.get(r).loadEvaluationWeights());
        try {
            long tokens = 0;
            for (int first = 0; first < steps; first += worldSize) {
                int end = Math.min(steps, first + worldSize);
                DiffusionObjective.MicroBatch[] mine = new DiffusionObjective.MicroBatch[ranks()];
                for (int i = first; i < end; i++) {
                    int[] ids = val.next(batchSize, c.seqLen);
                    var batch = DiffusionObjective.evalMicroBatch(ids, batchSize, c.seqLen, c.embedDim, rng);
                    tokens += ids.length;
                    int local = i - first - firstRank;
                    if (local >= 0 && local < ranks()) mine[local] = batch;
                }
                int round = first;
                onAllRanks(r -> {
                    if (mine[r] != null)
                        sums[r][round + firstRank + r] = trainers.get(r).validationNllSum(mine[r]);
                    return null;
                });
                for (int i = first; i < end; i++) afterBatch.accept(i + 1);
            }
            double[] perBatch = onAllRanks(r -> collectives.get(r).allReduce(sums[r], Collective.Op.SUM))
                    .getFirst();
            double total = 0;
            for (double s : perBatch) total += s;
            return total / tokens;
        } finally {
            if (!broken)
                onAllRanks(r -> {
                    trainers.get(r).restoreWeights(live.get(r));
                    return null;
                });
        }
    }

    /**
     * Averages the loss terms and the reconst_bs statistics over ranks. train.py averages the
     * statistics before choosing R; averaging them right after the micro-steps gives the next
     * step the same values and leaves rank 0 holding what a checkpoint must save.
     */
    private Trainer.Sums averageStatistics(int rank, Trainer.Sums s, ReconstBatchSize stats) {
        double[] st = stats.state();
        double[] mean = collectives
                .get(rank)
                .allReduce(
                        new double[] {
                            st[1], st[2], st[3], st[4], s.loss(), s.nll(), s.reconst(), s.prior(), s.reconstRows()
                        },
                        Collective.Op.MEAN);
        stats.restore(new double[] {st[0], mean[0], mean[1], mean[2], mean[3]});
        return new Trainer.Sums(
                mean[4], mean[5], mean[6], mean[7], (int) Math.round(mean[8] * worldSize), s.gamma0(), s.gamma1());
    }

    @FunctionalInterface
    private interface RankTask<T> {
        T run(int rank);
    }

    private <T> List<T> onAllRanks(RankTask<T> task) {
        if (broken) throw new IllegalStateException("a rank failed earlier: the data-parallel group is unusable");
        List<Future<T>> futures = new ArrayList<>();
        for (int r = 0; r < ranks(); r++) {
            int rank = r;
            futures.add(threads.get(r).submit(() -> {
                try {
                    return task.run(rank);
                } catch (RuntimeException | Error e) {
                    // Wake the ranks that wait in a collective for this one.
                    collectives.get(rank).abort(e);
                    throw e;
                }
            }));
        }
        List<T> results = new ArrayList<>();
        Throwable first = null;
        for (Future<T> f : futures) {
            try {
                results.add(f.get());
            } catch (ExecutionException e) {
                // Rank order: rank 0's failure (e.g. a diverged loss, the same on every rank) is reported.
                if (first == null) first = e.getCause();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                first = e;
            }
        }
        if (first != null) {
            broken = true;
            throw rethrow(first);
        }
        return results;
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException e) throw e;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    @Override
    public void close() {
        for (ExecutorService t : threads) t.shutdownNow();
        for (Collective c : collectives) c.close();
    }
}

package plaid.backend;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Function;

/**
 * The reference {@link Collective}: N ranks in one JVM, each driven by its own thread, meeting
 * in shared memory. A test and development aid (it plays for NCCL the role the CPU backend plays
 * for CUDA: readable and exact), not a way to train across machines.
 *
 * <p>The k-th collective of every rank meets in slot k. The last rank to arrive combines the
 * contributions in rank order (so the result does not depend on arrival order) and each rank
 * copies the result into its own tensors when it awaits.
 */
public final class InProcessCollective implements Collective {
    private final Hub hub;
    private final int rank;
    private final ComputeBackend backend;
    /** This rank's count of collectives issued: the slot its next one meets in. */
    private long sequence;

    private InProcessCollective(Hub hub, int rank, ComputeBackend backend) {
        this.hub = hub;
        this.rank = rank;
        this.backend = backend;
    }

    /** One handle per rank, rank i reading and writing its tensors through {@code backends.get(i)}. */
    public static List<Collective> group(List<? extends ComputeBackend> backends) {
        if (backends.isEmpty()) throw new IllegalArgumentException("a group needs at least one rank");
        Hub hub = new Hub(backends.size());
        List<Collective> ranks = new ArrayList<>();
        for (int i = 0; i < backends.size(); i++) ranks.add(new InProcessCollective(hub, i, backends.get(i)));
        return List.copyOf(ranks);
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int ranks() {
        return hub.ranks;
    }

    @Override
    public Pending allReduceAsync(List<Tensor> bucket, Op op) {
        if (hub.ranks == 1) return Pending.DONE; // the sum and the mean of one rank are its values
        float[][] mine = new float[bucket.size()][];
        for (int i = 0; i < mine.length; i++) mine[i] = backend.download(bucket.get(i));
        CompletableFuture<Object> result = hub.meet(sequence++, rank, mine, all -> reduce(all, op));
        return () -> {
            float[][] reduced = (float[][]) join(result);
            for (int i = 0; i < reduced.length; i++) backend.upload(reduced[i], bucket.get(i));
        };
    }

    private float[][] reduce(Object[] contributions, Op op) {
        float[][] first = (float[][]) contributions[0];
        float[][] out = new float[first.length][];
        for (int t = 0; t < first.length; t++) {
            float[] acc = first[t].clone();
            for (int r = 1; r < contributions.length; r++) {
                float[] other = ((float[][]) contributions[r])[t];
                if (other.length != acc.length)
                    throw new IllegalArgumentException("all-reduce of tensor " + t + ": rank " + r + " passed "
                            + other.length + " values, rank 0 " + acc.length);
                for (int k = 0; k < acc.length; k++) acc[k] += other[k];
            }
            if (op == Op.MEAN) for (int k = 0; k < acc.length; k++) acc[k] /= contributions.length;
            out[t] = acc;
        }
        return out;
    }

    @Override
    public double[] allReduce(double[] values, Op op) {
        Object result = join(hub.meet(sequence++, rank, values.clone(), all -> {
            double[] acc = ((double[]) all[0]).clone();
            for (int r = 1; r < all.length; r++) {
                double[] other = (double[]) all[r];
                if (other.length != acc.length)
                    throw new IllegalArgumentException(
                            "all-reduce: rank " + r + " passed " + other.length + " values, rank 0 " + acc.length);
                for (int k = 0; k < acc.length; k++) acc[k] += other[k];
            }
            if (op == Op.MEAN) for (int k = 0; k < acc.length; k++) acc[k] /= all.length;
            return acc;
        }));
        return ((double[]) result).clone();
    }

    @Override
    public void broadcast(Tensor t, int root) {
        if (root < 0 || root >= hub.ranks)
            throw new IllegalArgumentException("broadcast root " + root + " outside [0, " + hub.ranks + ")");
        float[] mine = rank == root ? backend.download(t) : null;
        float[] values = (float[]) join(hub.meet(sequence++, rank, mine, all -> all[root]));
        if (rank != root) backend.upload(values, t);
    }

    @Override
    public void barrier() {
        join(hub.meet(sequence++, rank, Boolean.TRUE, all -> Boolean.TRUE));
    }

    @Override
    public void abort(Throwable cause) {
        hub.abort(cause);
    }

    private static Object join(CompletableFuture<Object> result) {
        try {
            return result.join();
        } catch (CompletionException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new IllegalStateException("collective failed: " + cause.getMessage(), cause);
        }
    }

    /** The meeting place of a group's ranks. */
    private static final class Hub {
        final int ranks;
        /** Guarded by this. */
        private final Map<Long, Slot> slots = new HashMap<>();
        /** Guarded by this. */
        private Throwable aborted;

        Hub(int ranks) {
            this.ranks = ranks;
        }

        /** Deposits {@code rank}'s contribution to collective {@code seq}; the last to arrive combines them. */
        CompletableFuture<Object> meet(long seq, int rank, Object contribution, Function<Object[], Object> combine) {
            Slot slot;
            boolean last;
            synchronized (this) {
                if (aborted != null) return CompletableFuture.failedFuture(aborted);
                slot = slots.computeIfAbsent(seq, k -> new Slot(ranks));
                slot.contributions[rank] = contribution;
                last = ++slot.arrived == ranks;
                if (last) slots.remove(seq);
            }
            if (last) {
                try {
                    slot.result.complete(combine.apply(slot.contributions));
                } catch (RuntimeException e) {
                    slot.result.completeExceptionally(e);
                }
            }
            return slot.result;
        }

        void abort(Throwable cause) {
            List<Slot> waiting;
            synchronized (this) {
                if (aborted == null) aborted = new IllegalStateException("a rank failed", cause);
                waiting = List.copyOf(slots.values());
                slots.clear();
            }
            for (Slot s : waiting) s.result.completeExceptionally(aborted);
        }
    }

    private static final class Slot {
        final Object[] contributions;
        final CompletableFuture<Object> result = new CompletableFuture<>();
        int arrived;

        Slot(int ranks) {
            contributions = new Object[ranks];
        }
    }
}

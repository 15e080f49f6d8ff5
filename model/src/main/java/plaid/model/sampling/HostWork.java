package plaid.model.sampling;

import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;
import java.util.function.IntConsumer;

/**
 * Runs a step's per-trajectory host work (noise draws, the float64 update, the float32 conversion for
 * the forward) in parallel over trajectories. Each trajectory's work touches only its own arrays and its own
 * noise stream, and draws in the same order, so the results do not depend on the threads. Work too small to
 * pay for a fork (a lone request, a tiny model) runs on the calling thread.
 */
final class HostWork {
    /**
     * Latent elements (rows × seq_len × embed_dim) a step must touch before it forks: a Gaussian draw costs
     * about 20 ns an element, a fork and join a few µs, so below 32 Ki elements (under a millisecond of work)
     * one thread does it.
     */
    static final int DEFAULT_MIN_ELEMENTS = 1 << 15;

    /** Shared by every batch of the JVM: the machine's cores, daemon workers (the JVM may exit while idle). */
    private static final class Pool {
        static final ForkJoinPool POOL = new ForkJoinPool(Runtime.getRuntime().availableProcessors());
    }

    private final int minElements;

    HostWork(int minElements) {
        this.minElements = minElements;
    }

    /** {@code body.accept(i)} for every index of {@code members}, in any order, on any thread; returns once all ran. */
    void forEach(List<Trajectory> members, IntConsumer body) {
        int n = members.size();
        long[] prefix = new long[n + 1];
        for (int i = 0; i < n; i++) prefix[i + 1] = prefix[i] + members.get(i).z.length;
        if (n < 2 || prefix[n] < minElements || Pool.POOL.getParallelism() < 2) {
            for (int i = 0; i < n; i++) body.accept(i);
            return;
        }
        Pool.POOL.invoke(new Range(prefix, body, 0, n));
    }

    /** Each member's z cast to float32 and its x_sc copied into the forward's inputs, from row {@code firstRow[i]}. */
    void castForForward(List<Trajectory> members, int[] firstRow, int perRow, float[] zf, float[] sc) {
        forEach(members, i -> {
            Trajectory t = members.get(i);
            int at = firstRow[i] * perRow;
            for (int k = 0; k < t.z.length; k++) zf[at + k] = (float) t.z[k];
            System.arraycopy(t.selfCond, 0, sc, at, t.selfCond.length);
        });
    }

    /** Indices from.. to, split in halves while both halves have work worth a thread. */
    private final class Range extends RecursiveAction {
        private final long[] prefix;
        private final IntConsumer body;
        private final int from, to;

        Range(long[] prefix, IntConsumer body, int from, int to) {
            this.prefix = prefix;
            this.body = body;
            this.from = from;
            this.to = to;
        }

        @Override
        protected void compute() {
            if (to - from < 2 || prefix[to] - prefix[from] < minElements / 4) {
                for (int i = from; i < to; i++) body.accept(i);
                return;
            }
            int mid = (from + to) >>> 1;
            invokeAll(new Range(prefix, body, from, mid), new Range(prefix, body, mid, to));
        }
    }
}

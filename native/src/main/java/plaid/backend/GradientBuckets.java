package plaid.backend;

import java.util.ArrayList;
import java.util.List;

/**
 * DDP's bucketed reducer: gradients grouped, in reverse parameter order (the order a backward
 * finishes them), into buckets of about {@code capBytes}; a bucket's all-reduce (mean over
 * ranks) starts as soon as its last gradient is marked {@link #ready}, so reducing early
 * buckets overlaps the rest of the backward, and {@link #finish} waits for all of them.
 * Every rank must build its buckets from the same parameter list.
 *
 * <p>A gradient marked ready must be final: nothing may write it until {@link #finish} returns,
 * since its reduction may be reading and rewriting it in place meanwhile (with NCCL, on a stream
 * of its own while the backward's kernels run). After {@link #finish}, the rank's later work (the
 * grad norm, the optimiser, the next step's accumulation) sees the reduced values.
 */
public final class GradientBuckets {
    /** DDP's default bucket size. */
    public static final long DEFAULT_CAP_BYTES = 25L << 20;

    private final Collective collective;
    private final List<Tensor> grads;
    /** Bucket of each gradient. */
    private final int[] bucketOf;
    /** Gradients still missing per bucket, this step. */
    private final int[] missing;

    private final int[] sizes;
    private final List<List<Tensor>> buckets = new ArrayList<>();
    private final boolean[] marked;
    private final List<Collective.Pending> inFlight = new ArrayList<>();
    private long nanos;
    /** Buckets started by {@link #ready} before {@link #finish} this step (the overlap). */
    private int startedEarly, lastStartedEarly;

    private boolean finishing;

    public GradientBuckets(Collective collective, List<Tensor> grads, long capBytes) {
        if (capBytes <= 0) throw new IllegalArgumentException("bucket cap must be positive, got " + capBytes);
        this.collective = collective;
        this.grads = List.copyOf(grads);
        this.bucketOf = new int[grads.size()];
        this.marked = new boolean[grads.size()];
        List<Integer> sizeList = new ArrayList<>();
        long bytes = 0;
        for (int i = grads.size() - 1; i >= 0; i--) {
            long b = grads.get(i).numel() * Float.BYTES;
            if (buckets.isEmpty() || bytes + b > capBytes && bytes > 0) {
                buckets.add(new ArrayList<>());
                sizeList.add(0);
                bytes = 0;
            }
            int k = buckets.size() - 1;
            buckets.get(k).add(grads.get(i));
            sizeList.set(k, sizeList.get(k) + 1);
            bucketOf[i] = k;
            bytes += b;
        }
        this.sizes = sizeList.stream().mapToInt(Integer::intValue).toArray();
        this.missing = sizes.clone();
    }

    public int buckets() {
        return buckets.size();
    }

    /** Gradient {@code i} holds its final value for this step; its bucket starts when complete. */
    public void ready(int i) {
        if (marked[i]) return;
        marked[i] = true;
        int k = bucketOf[i];
        if (--missing[k] == 0) {
            if (!finishing) startedEarly++;
            long start = System.nanoTime();
            // one rank too: the CPU collectives return at once, NCCL runs its (identity) reduction
            inFlight.add(collective.allReduceAsync(buckets.get(k), Collective.Op.MEAN));
            nanos += System.nanoTime() - start;
        }
    }

    /** Marks what is left (reverse order), waits for every bucket and readies the next step. */
    public void finish() {
        finishing = true;
        for (int i = grads.size() - 1; i >= 0; i--) ready(i);
        long start = System.nanoTime();
        try {
            for (Collective.Pending p : inFlight) p.await();
        } finally {
            nanos += System.nanoTime() - start;
            inFlight.clear();
            finishing = false;
            lastStartedEarly = startedEarly;
            startedEarly = 0;
            java.util.Arrays.fill(marked, false);
            System.arraycopy(sizes, 0, missing, 0, sizes.length);
        }
    }

    /** How many buckets of the last finished step started before {@link #finish}, during the backward. */
    public int startedEarly() {
        return lastStartedEarly;
    }

    /**
     * The reductions' time since the last call (call it once a step, after {@link #finish}): on a
     * device, their span and its part the compute waited for, timed there by the collective
     * ({@link Collective#takeReductionTimes}); else the time this rank's thread spent starting and
     * waiting for them, all of it waited for. Resets the count.
     */
    public Collective.ReductionTimes takeTimes() {
        double host = nanos / 1e9;
        nanos = 0;
        return collective.takeReductionTimes().orElse(new Collective.ReductionTimes(host, host));
    }
}

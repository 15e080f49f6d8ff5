package plaid.backend;

import java.util.List;
import java.util.Optional;

/**
 * One rank's view of a group of ranks that reduce together: the collectives of data-parallel
 * training (gradient all-reduce, the broadcast of initial weights, a barrier). Every rank of a
 * group must issue the same collectives in the same order, as NCCL requires; a rank's
 * tensors belong to its own {@link ComputeBackend}.
 *
 * <p>The all-reduce is asynchronous per bucket, so a reducer can start a bucket of gradients as
 * soon as the backward has finished it and keep computing ({@link GradientBuckets}); {@link
 * Pending#await} makes the result visible to the calling rank's later work (on a device: to the
 * work queued after it; the host may not have waited). Implementations: {@link
 * InProcessCollective} (N CPU ranks in one JVM, a test and development aid) and
 * {@code cuda.NcclCollective} (NCCL, one rank per GPU, on a communication stream of its own).
 */
public interface Collective extends AutoCloseable {
    /** How the ranks' values combine. */
    enum Op {
        SUM,
        /** The sum divided by the number of ranks (DDP's gradient average). */
        MEAN
    }

    /** A reduction in flight. */
    @FunctionalInterface
    interface Pending {
        /**
         * Makes the reduced values this rank's: work it issues afterwards reads them (the CPU
         * collectives block until they are in its tensors; NCCL orders the compute stream after them).
         */
        void await();

        Pending DONE = () -> {};
    }

    int rank();

    int ranks();

    /**
     * Starts reducing {@code bucket} in place, element-wise over ranks: every rank passes
     * tensors of the same shapes in the same order.
     */
    Pending allReduceAsync(List<Tensor> bucket, Op op);

    default void allReduce(Tensor t, Op op) {
        allReduceAsync(List.of(t), op).await();
    }

    /**
     * Device times of the bucket reductions ({@link #allReduceAsync}) started since the last call:
     * from the first one's start to the last one's end, and the part of that after the last
     * bucket's inputs were ready, which the rank's compute waited for. Waits for them to end.
     * Empty where a reduction holds the calling thread (the CPU collectives): the caller's clock
     * is then the measure.
     */
    default Optional<ReductionTimes> takeReductionTimes() {
        return Optional.empty();
    }

    /** Seconds of bucket reductions on a device: their span and its part not overlapped with compute. */
    record ReductionTimes(double spanSeconds, double exposedSeconds) {}

    /** Reduces host values (metrics, running statistics) in double precision; returns the result. */
    double[] allReduce(double[] values, Op op);

    /** Copies {@code root}'s values of {@code t} into every rank's {@code t}. */
    void broadcast(Tensor t, int root);

    /** Returns when every rank has called it. */
    void barrier();

    /**
     * Gives up on the group after a rank failed: collectives waiting now or issued later on any
     * rank throw instead of waiting for the failed rank forever. The group is unusable afterwards.
     */
    void abort(Throwable cause);

    @Override
    default void close() {}
}

package plaid.trainer.cluster;

/**
 * What a {@link Worker} runs: this machine's ranks of a multi-machine job. Implementations are
 * found with {@link java.util.ServiceLoader} (listed in {@code META-INF/services}) and chosen by
 * {@link #name()} with the worker's {@code --runner}.
 *
 * <p>Per attempt the worker calls {@link #newUniqueId()} (only where rank 0 is) and then
 * {@link #run} on one thread, while another heartbeats and sets the context's stop and abort
 * flags. An instance runs one attempt at a time; after an abort the worker joins again and calls
 * {@code run} anew, so {@code run} must leave nothing behind (communicators, device memory).
 */
public interface RankRunner {
    enum Outcome {
        /** Every step done, the last checkpoint written, the final validation reported. */
        SUCCEEDED,
        /** Stopped because {@link RankContext#stopRequested()} said so, after a checkpoint. */
        STOPPED
    }

    /** The name {@code --runner} selects. */
    String name();

    /** A fresh NCCL unique id (opaque bytes) for an attempt; called only in the worker holding rank 0. */
    byte[] newUniqueId();

    /**
     * Runs ranks {@code assignment.firstRank()} .. {@code + devices() - 1} until the job is done
     * or the context says to stop (checkpoint, return {@link Outcome#STOPPED}) or has aborted
     * (return or throw at once: the attempt is over, peers may be gone). A throw is the ranks'
     * failure; {@link plaid.model.TrainingDivergedException} is not retried.
     */
    Outcome run(RankAssignment assignment, RankContext context) throws Exception;
}

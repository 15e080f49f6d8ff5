package plaid.trainer.cluster;

/** A multi-machine job failed: its message is the job's failure, with where it can resume. */
public final class ClusterJobFailedException extends RuntimeException {
    public ClusterJobFailedException(String message) {
        super(message);
    }
}

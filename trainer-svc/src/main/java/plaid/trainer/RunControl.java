package plaid.trainer;

/** How the service tells a running job to stop between two steps. */
final class RunControl {
    private volatile boolean cancelled, shuttingDown;

    /** The client cancelled: checkpoint and end the job. */
    void cancel() {
        cancelled = true;
    }

    /** The service stops: checkpoint and leave the job running, to be resumed at the next start. */
    void shutDown() {
        shuttingDown = true;
    }

    boolean cancelled() {
        return cancelled;
    }

    boolean shuttingDown() {
        return shuttingDown;
    }
}

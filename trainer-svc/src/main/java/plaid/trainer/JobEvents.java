package plaid.trainer;

import io.grpc.stub.ServerCallStreamObserver;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import plaid.v1.CheckpointInfo;
import plaid.v1.JobEvent;
import plaid.v1.JobState;

/**
 * Job events: appended through the store and announced to watchers, which re-read the log.
 * Reading the stored log is the only way a watcher gets events, so a replay and the live
 * tail are the same code and a reconnect with after_sequence misses nothing.
 */
@ApplicationScoped
public class JobEvents {
    /** A watcher re-reads the log at least this often, even without an announcement. */
    private static final long POLL_MILLIS = 1000;

    private final JobStore store;
    private final AtomicLong appended = new AtomicLong();

    JobEvents(JobStore store) {
        this.store = store;
    }

    public JobEvent append(String jobId, JobEvent.Builder event) {
        return announce(store.append(jobId, event));
    }

    public JobEvent finish(String jobId, JobState state, String failure) {
        return announce(store.finish(jobId, state, failure));
    }

    /** Records the checkpoint (see {@link JobStore#recordCheckpoint}); returns the ones retention dropped. */
    public List<CheckpointRecord> checkpointWritten(String jobId, CheckpointInfo info, int keep) {
        List<CheckpointRecord> dropped = store.recordCheckpoint(jobId, info, keep);
        announce(null);
        return dropped;
    }

    private JobEvent announce(JobEvent event) {
        synchronized (appended) {
            appended.incrementAndGet();
            appended.notifyAll();
        }
        return event;
    }

    /**
     * Sends the job's events after {@code afterSequence} to {@code call}: stored ones, then
     * new ones as they are appended, until the event that ends the job or the client leaves.
     * Runs on the caller's thread.
     */
    public void watch(String jobId, long afterSequence, ServerCallStreamObserver<JobEvent> call)
            throws InterruptedException {
        long last = afterSequence;
        while (!call.isCancelled()) {
            long seen = appended.get();
            List<JobEvent> events = store.eventsAfter(jobId, last);
            for (JobEvent event : events) {
                call.onNext(event);
                last = event.getSequence();
                if (event.hasState() && JobStore.TERMINAL.contains(event.getState())) {
                    call.onCompleted();
                    return;
                }
            }
            // The job has ended: nothing more will come. It may have ended between the read above
            // and this check, so what it wrote last (its terminal event) is read once more and sent.
            if (events.isEmpty()
                    && store.find(jobId)
                            .map(job -> JobStore.TERMINAL.contains(job.getState()))
                            .orElse(true)) {
                store.eventsAfter(jobId, last).forEach(call::onNext);
                call.onCompleted();
                return;
            }
            synchronized (appended) {
                if (appended.get() == seen) appended.wait(POLL_MILLIS);
            }
        }
    }
}

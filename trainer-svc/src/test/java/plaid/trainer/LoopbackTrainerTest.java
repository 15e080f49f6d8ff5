package plaid.trainer;

import io.grpc.ManagedChannel;
import io.quarkus.test.common.http.TestHTTPResource;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import plaid.service.LoopbackChannels;
import plaid.trainer.cluster.WorkerProcesses;
import plaid.v1.CancelJobRequest;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;

/**
 * A Quarkus test of the trainer service through a real gRPC channel on loopback: the channel and
 * its blocking stub are open for each test, and the calls the tests make on jobs are here once.
 */
public abstract class LoopbackTrainerTest {
    @TestHTTPResource("/")
    protected URI server;

    protected ManagedChannel channel;
    protected TrainerServiceGrpc.TrainerServiceBlockingStub trainer;

    /** The ids {@link #submit} returned, for {@link #cancelSubmitted}. */
    private final List<String> submitted = new ArrayList<>();

    @BeforeEach
    protected final void openChannel() {
        channel = LoopbackChannels.open(server);
        trainer = TrainerServiceGrpc.newBlockingStub(channel);
    }

    // JUnit runs a subclass's @AfterEach first, so its clean-up still has the channel.
    @AfterEach
    protected final void closeChannel() {
        channel.shutdownNow();
    }

    protected Job submit(TrainingSpec spec, String displayName) {
        Job job = trainer.submitJob(SubmitJobRequest.newBuilder()
                .setSpec(spec)
                .setDisplayName(displayName)
                .build());
        submitted.add(job.getId());
        return job;
    }

    /** Cancels every job {@link #submit} made: one a failed assertion left running must not hold the queue for the next test. */
    protected void cancelSubmitted() {
        for (String id : submitted)
            trainer.cancelJob(CancelJobRequest.newBuilder().setJobId(id).build());
    }

    protected Job job(String jobId) {
        return TinyJobs.job(trainer, jobId);
    }

    /** Every event after {@code afterSequence} until the job ends. */
    protected List<JobEvent> watch(String jobId, long afterSequence) {
        return TinyJobs.watch(trainer, jobId, afterSequence);
    }

    /** The job once it has ended (succeeded, failed or cancelled), waiting as long as {@code workers} wait. */
    protected Job awaitEnd(String jobId, WorkerProcesses workers) throws InterruptedException {
        workers.await(
                () -> job(jobId).getState().getNumber() >= JobState.JOB_STATE_SUCCEEDED_VALUE, "the end of " + jobId);
        return job(jobId);
    }

    /** The job's messages so far, as the store has them. */
    protected static List<String> messages(JobStore store, String jobId) {
        return TinyJobs.messages(store.eventsAfter(jobId, 0));
    }
}

package plaid.trainer.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import plaid.trainer.JobStore;
import plaid.trainer.LoopbackTrainerTest;
import plaid.trainer.TinyJobs;
import plaid.trainer.TrainingCorpus;
import plaid.v1.CancelJobRequest;
import plaid.v1.ClusterRendezvousGrpc;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.JoinRequest;
import plaid.v1.LeaveRequest;
import plaid.v1.ModelShape;
import plaid.v1.Reporting;
import plaid.v1.TrainingSpec;

/**
 * The rendezvous with real worker processes (JVMs on loopback, the counting runner): a job
 * completes on two workers; a worker that never arrives fails the job after the join timeout; a
 * worker killed with SIGKILL restarts the job from its checkpoint, and when restarts are spent
 * the job fails and a resubmission resumes it. The test plays the orchestrator, starting and
 * restarting worker processes as an indexed Job's controller would.
 */
@QuarkusTest
@TestProfile(ClusterTestProfile.class)
class ClusterRendezvousTest extends LoopbackTrainerTest {
    private static final int STEP_MILLIS = 100, PRINT_FREQ = 5, CHECKPOINT_FREQ = 10;
    private static final Duration PATIENCE = Duration.ofSeconds(90);

    @Inject
    JobStore store;

    private WorkerProcesses workers;

    @BeforeEach
    void prepareWorkers() {
        workers = new WorkerProcesses(server, ClusterTestProfile.RUN_ROOT.getParent(), PATIENCE);
    }

    @AfterEach
    void cleanUp() {
        workers.killAll();
        cancelSubmitted();
    }

    @Test
    void twoWorkersRunAJobToCompletion() throws Exception {
        Job job = submit(spec(30, Optional.empty()), "cluster");
        Process first = startWorker(job.getId(), 0, 3), second = startWorker(job.getId(), 1, 1);

        Job done = awaitEnd(job.getId(), workers);
        assertThat(done.getState()).as(done.getFailure()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        assertThat(done.getStep()).isEqualTo(30);
        assertThat(first.waitFor(30, TimeUnit.SECONDS) && second.waitFor(30, TimeUnit.SECONDS))
                .isTrue();
        assertThat(first.exitValue()).isEqualTo(Worker.SUCCEEDED);
        assertThat(second.exitValue()).isEqualTo(Worker.SUCCEEDED);
        assertThat(messages(store, job.getId()))
                .anyMatch(m -> m.startsWith("attempt 1: 2 workers joined, world size 4: worker node 0 on ")
                        && m.contains("(ranks 0-2)")
                        && m.contains("worker node 1 on ")
                        && m.contains("(rank 3)"))
                .contains("counted to 30 over 4 ranks (counting runner)");
        // Rank 0's metrics every print_freq steps, as a job trained in the service reports them.
        assertThat(store.lossCurve(job.getId()).keySet())
                .containsExactlyElementsOf(IntStream.rangeClosed(1, 30 / PRINT_FREQ)
                        .map(i -> i * PRINT_FREQ - 1)
                        .boxed()
                        .toList());
        assertThat(done.getCheckpointsList()).extracting(c -> c.getStep()).containsExactly(10, 20, 30);
        // Rank 0's worker made the unique id; the other got the same bytes.
        assertThat(uniqueIdDigests(first)).hasSize(1).isEqualTo(uniqueIdDigests(second));
    }

    @Test
    void aWorkerThatNeverArrivesFailsTheJobAfterTheJoinTimeout() throws Exception {
        Job job = submit(spec(30, Optional.empty()), "cluster");
        Process lonely = startWorker(job.getId(), 0, 1);

        Job failed = awaitEnd(job.getId(), workers);
        assertThat(failed.getState()).isEqualTo(JobState.JOB_STATE_FAILED);
        assertThat(failed.getFailure())
                .contains("1 of 2 workers joined within " + ClusterTestProfile.JOIN_TIMEOUT_SECONDS + ".0 s")
                .contains("worker node 0 on ")
                .contains("the others never arrived (trainer-svc.cluster.join-timeout)")
                .contains("no checkpoint was written");
        // The worker that came is told the job has ended and exits with the job's failure.
        assertThat(lonely.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(lonely.exitValue()).isEqualTo(Worker.JOB_ENDED);
    }

    @Test
    void aKilledWorkerRestartsTheJobFromItsLastCheckpoint() throws Exception {
        Job job = submit(spec(60, Optional.empty()), "cluster");
        Process survivor = startWorker(job.getId(), 0, 1);
        startWorker(job.getId(), 1, 1);
        int checkpointed = awaitCheckpoint(job.getId());

        workers.started().get(1).destroyForcibly(); // SIGKILL
        workers.await(
                () -> messages(store, job.getId()).stream().anyMatch(m -> m.startsWith("attempt 1 failed")),
                "the restart");
        startWorker(job.getId(), 1, 1); // the orchestrator replaces the lost process

        Job done = awaitEnd(job.getId(), workers);
        assertThat(done.getState()).as(done.getFailure()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        String restart = messages(store, job.getId()).stream()
                .filter(m -> m.startsWith("attempt 1 failed"))
                .findFirst()
                .orElseThrow();
        assertThat(restart)
                .contains("worker node 1 on ")
                .contains("sent no heartbeat for")
                .contains("restart 1 of 1, trainer-svc.cluster.max-restarts");
        String resumedAt = messages(store, job.getId()).stream()
                .filter(m -> m.startsWith("attempt 2: 2 workers joined"))
                .findFirst()
                .orElseThrow();
        int resumedStep = checkpointStep(resumedAt);
        assertThat(resumedStep).isGreaterThanOrEqualTo(checkpointed);
        // The count continued from the checkpoint: every step counted exactly once.
        assertThat(messages(store, job.getId())).contains("counted to 60 over 2 ranks (counting runner)");
        assertThat(store.lossCurve(job.getId()).keySet()).contains(59);
        assertThat(survivor.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(survivor.exitValue()).isEqualTo(Worker.SUCCEEDED);
    }

    @Test
    void aJobThatLosesWorkersPastItsRestartsFailsAndResumesOnResubmission() throws Exception {
        // Long enough that the survivor cannot finish attempt 2 while the coordinator waits out the heartbeat timeout.
        Job job = submit(spec(100, Optional.empty()), "cluster");
        Process survivor = startWorker(job.getId(), 0, 1);
        startWorker(job.getId(), 1, 1);
        awaitCheckpoint(job.getId());
        workers.started().get(1).destroyForcibly();
        workers.await(
                () -> messages(store, job.getId()).stream().anyMatch(m -> m.startsWith("attempt 1 failed")),
                "the restart");
        Process replacement = startWorker(job.getId(), 1, 1);
        workers.await(
                () -> messages(store, job.getId()).stream().anyMatch(m -> m.startsWith("attempt 2: ")), "attempt 2");
        replacement.destroyForcibly(); // restarts spent (max-restarts=1): the job fails

        Job failed = awaitEnd(job.getId(), workers);
        assertThat(failed.getState()).isEqualTo(JobState.JOB_STATE_FAILED);
        String last = failed.getCheckpointsList().getLast().getPath();
        assertThat(failed.getFailure())
                .startsWith("the job's workers failed (attempt 2, after 1 restarts): worker node 1 on ")
                .contains("sent no heartbeat")
                .endsWith("it can resume from its last checkpoint, " + last + " (submit it with spec.resume_from)");
        assertThat(survivor.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(survivor.exitValue()).isEqualTo(Worker.JOB_ENDED);

        Job resumed = submit(spec(100, Optional.of(last)), "cluster");
        Process first = startWorker(resumed.getId(), 0, 1), second = startWorker(resumed.getId(), 1, 1);
        Job done = awaitEnd(resumed.getId(), workers);
        assertThat(done.getState()).as(done.getFailure()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        assertThat(messages(store, resumed.getId()))
                .anyMatch(m -> m.startsWith("attempt 1: 2 workers joined") && m.endsWith("; resuming from " + last))
                .contains("counted to 100 over 2 ranks (counting runner)");
        // Only the steps after the checkpoint ran again.
        int from = checkpointStep(last);
        assertThat(store.lossCurve(resumed.getId()).firstKey()).isEqualTo(from + PRINT_FREQ - 1);
        assertThat(first.waitFor(30, TimeUnit.SECONDS) && second.waitFor(30, TimeUnit.SECONDS))
                .isTrue();
        assertThat(first.exitValue()).isZero();
        assertThat(second.exitValue()).isZero();
    }

    @Test
    void cancellingAJobCheckpointsAndStopsItsWorkers() throws Exception {
        Job job = submit(spec(200, Optional.empty()), "cluster");
        Process first = startWorker(job.getId(), 0, 1), second = startWorker(job.getId(), 1, 1);
        awaitCheckpoint(job.getId());
        trainer.cancelJob(CancelJobRequest.newBuilder().setJobId(job.getId()).build());

        Job cancelled = awaitEnd(job.getId(), workers);
        assertThat(cancelled.getState()).as(cancelled.getFailure()).isEqualTo(JobState.JOB_STATE_CANCELLED);
        // Rank 0 checkpointed where it stopped, after the cancel: a resume_from continues there.
        List<JobEvent> events = store.eventsAfter(job.getId(), 0);
        int cancelling = IntStream.range(0, events.size())
                .filter(i -> events.get(i).getState() == JobState.JOB_STATE_CANCELLING)
                .findFirst()
                .orElseThrow();
        assertThat(events.subList(cancelling, events.size())).anyMatch(JobEvent::hasCheckpoint);
        int stoppedAt = cancelled.getCheckpointsList().getLast().getStep();
        assertThat(stoppedAt).isEqualTo(cancelled.getStep()).isLessThan(200);
        assertThat(first.waitFor(30, TimeUnit.SECONDS) && second.waitFor(30, TimeUnit.SECONDS))
                .isTrue();
        assertThat(first.exitValue()).isEqualTo(Worker.JOB_ENDED);
        assertThat(second.exitValue()).isEqualTo(Worker.JOB_ENDED);
    }

    @Test
    void theCoordinatorTakesJobsLargerThanItsOwnHeap() {
        // About 1.3e9 parameters: far beyond this JVM's heap, which trains nothing here.
        TrainingSpec large = spec(10, Optional.empty()).toBuilder()
                .setShape(ModelShape.newBuilder()
                        .setDim(2048)
                        .setNBlocks(24)
                        .setNHeads(32)
                        .setEmbedDim(16)
                        .setSeqLen(1024)
                        .setVocabSize(32768))
                .build();
        Job job = submit(large, "cluster");
        assertThat(job.getState()).isEqualTo(JobState.JOB_STATE_QUEUED);
        Job cancelled = trainer.cancelJob(
                CancelJobRequest.newBuilder().setJobId(job.getId()).build());
        assertThat(cancelled.getState()).isIn(JobState.JOB_STATE_CANCELLED, JobState.JOB_STATE_CANCELLING);
    }

    @Test
    void joinsThatCannotWorkAreRefusedNamingTheField() {
        var rendezvous = ClusterRendezvousGrpc.newBlockingStub(channel);
        JoinRequest unknown =
                JoinRequest.newBuilder().setJobId("no-such-job").setDevices(1).build();
        assertRefused(Status.Code.NOT_FOUND, "no job no-such-job", () -> rendezvous.join(unknown));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "devices must be at least 1, got 0",
                () -> rendezvous.join(unknown.toBuilder().setDevices(0).build()));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "node_index must be below the job's 2 workers (trainer-svc.cluster.workers), got 2",
                () -> rendezvous.join(unknown.toBuilder().setNodeIndex(2).build()));
        assertRefused(
                Status.Code.ABORTED,
                "job no-such-job has no running attempt here: join it again",
                () -> rendezvous.leave(LeaveRequest.newBuilder()
                        .setJobId("no-such-job")
                        .setOutcome(LeaveRequest.Outcome.SUCCEEDED)
                        .build()));
    }

    private static void assertRefused(Status.Code code, String description, Runnable call) {
        StatusRuntimeException refusal =
                org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class, call::run);
        assertThat(refusal.getStatus().getCode()).isEqualTo(code);
        assertThat(refusal.getStatus().getDescription()).isEqualTo(description);
    }

    private static TrainingSpec spec(int steps, Optional<String> resumeFrom) {
        TrainingSpec.Builder spec = TrainingSpec.newBuilder()
                .setCorpus(TrainingCorpus.DEMO)
                .setSeed(7)
                .setShape(TinyJobs.shape())
                .setOptimization(TinyJobs.optimization(steps, 5))
                .setReporting(Reporting.newBuilder()
                        .setPrintFreq(PRINT_FREQ)
                        .setHookFreq(CHECKPOINT_FREQ)
                        .setCheckpointFreq(CHECKPOINT_FREQ)
                        .setKeepCheckpoints(3));
        resumeFrom.ifPresent(spec::setResumeFrom);
        return spec.build();
    }

    /** A worker JVM with the counting runner. */
    private Process startWorker(String jobId, int nodeIndex, int devices) throws IOException {
        return workers.start(
                jobId,
                CountingRankRunner.NAME,
                nodeIndex,
                devices,
                ClusterTestProfile.RUN_ROOT,
                List.of("-Dplaid.counting.step-millis=" + STEP_MILLIS));
    }

    private List<String> uniqueIdDigests(Process worker) throws IOException {
        Pattern digest = Pattern.compile("unique id sha-256 ([0-9a-f]+)");
        return Files.readAllLines(workers.log(worker)).stream()
                .map(digest::matcher)
                .filter(Matcher::find)
                .map(m -> m.group(1))
                .toList();
    }

    private int awaitCheckpoint(String jobId) throws InterruptedException {
        workers.await(() -> store.latestCheckpoint(jobId).isPresent(), "a checkpoint of job " + jobId);
        return store.latestCheckpoint(jobId).orElseThrow().step;
    }

    private static int checkpointStep(String text) {
        Matcher step = Pattern.compile("step-(\\d+)").matcher(text);
        assertThat(step.find()).as(text).isTrue();
        return Integer.parseInt(step.group(1));
    }
}

package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import plaid.v1.CheckpointInfo;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.ListJobsRequest;
import plaid.v1.ListJobsResponse;
import plaid.v1.Reporting;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainingSpec;

/**
 * A tiny job over a real gRPC channel on loopback, and what the database keeps of it; run
 * on each database the service supports by the subclasses' profiles.
 */
abstract class JobPersistenceTests extends LoopbackTrainerTest {
    static final int STEPS = 30, CHECKPOINT_FREQ = 10, KEEP = 2;

    @Inject
    JobStore store;

    @Inject
    RunRoot root;

    /** Dim 32, 2 blocks, seq 16, batch 8 on the demo corpus with a 300-id tokenizer trained for the job. */
    static TrainingSpec tinySpec(int steps) {
        return TrainingSpec.newBuilder()
                .setCorpus(TrainingCorpus.DEMO)
                .setSeed(7)
                .setShape(TinyJobs.shape())
                .setOptimization(TinyJobs.optimization(steps, 5))
                .setReporting(Reporting.newBuilder()
                        .setPrintFreq(1)
                        .setHookFreq(CHECKPOINT_FREQ)
                        .setValSteps(2)
                        .setValBatchSize(8)
                        .setFinalValSteps(2)
                        .setCheckpointFreq(CHECKPOINT_FREQ)
                        .setKeepCheckpoints(KEEP))
                .build();
    }

    Job submit(TrainingSpec spec) {
        return submit(spec, "tiny");
    }

    static List<Double> losses(List<JobEvent> events) {
        return events.stream()
                .filter(JobEvent::hasMetrics)
                .map(e -> e.getMetrics().getLoss())
                .toList();
    }

    static void assertStatus(Status.Code code, String descriptionStart, Executable call) {
        StatusRuntimeException refusal = assertThrows(StatusRuntimeException.class, call);
        assertThat(refusal.getStatus().getCode()).isEqualTo(code);
        assertThat(refusal.getStatus().getDescription()).startsWith(descriptionStart);
    }

    @Test
    void tinyJobRunsToCompletionWithMetricsValidationAndCheckpoints() {
        Job submitted = submit(tinySpec(STEPS));
        assertThat(submitted.getState()).isEqualTo(JobState.JOB_STATE_QUEUED);
        assertThat(submitted.getTotalSteps()).isEqualTo(STEPS);

        List<JobEvent> events = watch(submitted.getId(), 0);
        assertThat(events)
                .extracting(JobEvent::getSequence)
                .containsExactlyElementsOf(
                        LongStream.rangeClosed(1, events.size()).boxed().toList());
        assertThat(events.stream().filter(JobEvent::hasState).map(JobEvent::getState))
                .containsExactly(JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_SUCCEEDED);
        assertThat(events.stream()
                        .filter(JobEvent::hasMetrics)
                        .map(e -> e.getMetrics().getStep()))
                .containsExactlyElementsOf(IntStream.range(0, STEPS).boxed().toList());
        assertThat(losses(events)).allSatisfy(loss -> assertThat(loss).isFinite());
        assertThat(events.stream().filter(JobEvent::hasMetrics).map(JobEvent::getMetrics))
                .allSatisfy(m -> assertThat(m.getTokensPerSecond()).isPositive())
                .last()
                .satisfies(m -> assertThat(m.getEtaSeconds()).isZero());
        assertThat(events.stream()
                        .filter(JobEvent::hasValidation)
                        .map(e -> e.getValidation().getStep()))
                .containsExactly(10, 20, 30);
        assertThat(events.stream()
                        .filter(JobEvent::hasCheckpoint)
                        .map(e -> e.getCheckpoint().getStep()))
                .containsExactly(10, 20, 30);

        Job finished = job(submitted.getId());
        assertThat(finished.getState()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        assertThat(finished.getStep()).isEqualTo(STEPS);
        assertThat(finished.getLatestMetrics().getStep()).isEqualTo(STEPS - 1);
        assertThat(finished.getLatestValidation().getStep()).isEqualTo(STEPS);
        assertThat(finished.getSpec()).isEqualTo(submitted.getSpec());
        assertThat(finished.hasStartedAt() && finished.hasFinishedAt()).isTrue();
        // Retention keeps the newest two; the oldest is gone from disk too.
        assertThat(finished.getCheckpointsList())
                .extracting(CheckpointInfo::getStep)
                .containsExactly(20, 30);
        assertThat(finished.getCheckpointsList())
                .allSatisfy(c -> assertThat(root.path().resolve(c.getPath())).isDirectory());
        assertThat(root.checkpoint(submitted.getId(), null, 10)).doesNotExist();

        assertThat(store.lossCurve(submitted.getId()).values()).containsExactlyElementsOf(losses(events));
        assertThat(trainer.listJobs(ListJobsRequest.newBuilder()
                                .addStates(JobState.JOB_STATE_SUCCEEDED)
                                .build())
                        .getJobsList())
                .extracting(Job::getId)
                .contains(submitted.getId());

        // A reconnecting watcher gets exactly what it missed.
        long seen = events.get(events.size() / 2).getSequence();
        assertThat(watch(submitted.getId(), seen)).isEqualTo(events.subList(events.size() / 2 + 1, events.size()));
        assertThat(watch(submitted.getId(), events.getLast().getSequence())).isEmpty();
    }

    @Test
    void retriedSubmissionReturnsTheFirstJob() {
        SubmitJobRequest request = SubmitJobRequest.newBuilder()
                .setSpec(tinySpec(2))
                .setRequestId(UUID.randomUUID().toString())
                .build();
        Job first = trainer.submitJob(request);
        assertThat(trainer.submitJob(request).getId()).isEqualTo(first.getId());
        assertThat(watch(first.getId(), 0).getLast().getState()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
    }

    @Test
    void listIsNewestFirstAndPaged() {
        String older = submit(tinySpec(1)).getId(), newer = submit(tinySpec(1)).getId();
        watch(newer, 0);
        assertThat(jobIdsOnePerPage()).containsSubsequence(newer, older);
    }

    private List<String> jobIdsOnePerPage() {
        List<String> ids = new ArrayList<>();
        String token = "";
        do {
            ListJobsResponse page = trainer.listJobs(ListJobsRequest.newBuilder()
                    .setPageSize(1)
                    .setPageToken(token)
                    .build());
            page.getJobsList().forEach(job -> ids.add(job.getId()));
            token = page.getNextPageToken();
        } while (!token.isEmpty());
        return ids;
    }

    static boolean isPng(byte[] bytes) {
        return bytes.length > 8 && bytes[1] == 'P' && bytes[2] == 'N' && bytes[3] == 'G';
    }
}

package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Iterator;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;
import plaid.v1.WatchJobRequest;

/**
 * kill -9 of the packaged service in the middle of a job: after a restart the job resumes
 * from its last checkpoint and ends with the loss curve of an uninterrupted run of the same
 * spec (the steps after that checkpoint, run twice, give the same losses again). The job reads
 * an OWT2-format corpus of data-svc where compose mounts it ({@code data/} under the run root).
 */
class CrashRecoveryIT {
    // Long enough that the kill lands well before the end, after the first checkpoint.
    private static final int STEPS = 100, CHECKPOINT_FREQ = 10;

    private final PackagedTrainer service =
            new PackagedTrainer("plaid-trainer-crash-it", List.of("-Dtrainer-svc.shuffle-buffer-chunks=64"));

    @AfterEach
    void stop() throws InterruptedException {
        service.close();
    }

    @Test
    void jobKilledMidRunResumesAfterRestartWithTheSameLosses() throws Exception {
        killMidRunAndCompare(spec(1));
    }

    /** The same with two CPU ranks (the in-process reference all-reduce): data-parallel runs are deterministic too. */
    @Test
    void twoDeviceJobKilledMidRunResumesWithTheSameLosses() throws Exception {
        List<JobEvent> events = killMidRunAndCompare(spec(2));
        assertThat(events).anySatisfy(e -> assertThat(e.getMessage()).startsWith("data-parallel on 2 cpu ranks"));
    }

    private static TrainingSpec spec(int devices) {
        return JobPersistenceTests.tinySpec(STEPS).toBuilder()
                .setDevices(devices)
                .setCorpus("openwebtext2")
                .setReporting(JobPersistenceTests.tinySpec(STEPS).getReporting().toBuilder()
                        .setCheckpointFreq(CHECKPOINT_FREQ))
                .build();
    }

    /** Kills the service mid-job, restarts it, and compares the resumed job's curve with an uninterrupted run's. */
    private List<JobEvent> killMidRunAndCompare(TrainingSpec spec) throws Exception {
        Owt2TestCorpus.write(service.root().resolve("data"), "openwebtext2");
        TrainerServiceGrpc.TrainerServiceBlockingStub trainer = service.start();
        Job crashed =
                trainer.submitJob(SubmitJobRequest.newBuilder().setSpec(spec).build());

        // Kill once a checkpoint is written and at least one step after it has been reported.
        Iterator<JobEvent> live = trainer.watchJob(
                WatchJobRequest.newBuilder().setJobId(crashed.getId()).build());
        int checkpointed = 0;
        while (true) {
            JobEvent event = live.next();
            if (event.hasCheckpoint()) checkpointed = event.getCheckpoint().getStep();
            if (event.hasMetrics() && checkpointed > 0 && event.getMetrics().getStep() >= checkpointed) break;
        }
        service.kill();

        trainer = service.start();
        List<JobEvent> crashedEvents = TinyJobs.watch(trainer, crashed.getId(), 0);
        assertThat(crashedEvents.getLast().getState()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        String resumption = "resuming at step " + checkpointed + " ";
        assertThat(crashedEvents).anySatisfy(e -> assertThat(e.getMessage()).startsWith(resumption));

        Job uninterrupted =
                trainer.submitJob(SubmitJobRequest.newBuilder().setSpec(spec).build());
        assertThat(lossCurve(crashedEvents))
                .isEqualTo(lossCurve(TinyJobs.watch(trainer, uninterrupted.getId(), 0)))
                .hasSize(STEPS);
        return crashedEvents;
    }

    /** kill -9 during the final validation: the final checkpoint is already written, so the job resumes at the validation. */
    @Test
    void jobKilledDuringItsFinalValidationResumesThereWithoutRetraining() throws Exception {
        int steps = 20;
        TrainingSpec base = JobPersistenceTests.tinySpec(steps);
        TrainingSpec spec = base.toBuilder()
                .setReporting(base.getReporting().toBuilder().setHookFreq(steps).setFinalValSteps(5000))
                .build();
        TrainerServiceGrpc.TrainerServiceBlockingStub trainer = service.start();
        Job crashed =
                trainer.submitJob(SubmitJobRequest.newBuilder().setSpec(spec).build());
        Iterator<JobEvent> live = trainer.watchJob(
                WatchJobRequest.newBuilder().setJobId(crashed.getId()).build());
        while (true) {
            JobEvent event = live.next();
            if (event.hasValidating() && event.getValidating().getStep() == steps) break;
        }
        service.kill();

        trainer = service.start();
        List<JobEvent> events = TinyJobs.watch(trainer, crashed.getId(), 0);
        int resumed = -1;
        for (int i = 0; i < events.size(); i++)
            if (events.get(i).getMessage().startsWith("resuming at step ")) resumed = i;
        assertThat(resumed).as("a resumption: %s", events).isPositive();
        assertThat(events.get(resumed).getMessage()).startsWith("resuming at step " + steps + " ");
        List<JobEvent> after = events.subList(resumed, events.size());
        assertThat(after).as("no step is trained again").noneMatch(JobEvent::hasMetrics);
        assertThat(after)
                .anySatisfy(e -> assertThat(e.getValidation().getStep()).isEqualTo(steps));
        assertThat(events.getLast().getState()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
    }

    /** Loss by step; a step run again after the resumption keeps its latest loss. */
    private static SortedMap<Integer, Double> lossCurve(List<JobEvent> events) {
        SortedMap<Integer, Double> curve = new TreeMap<>();
        events.stream()
                .filter(JobEvent::hasMetrics)
                .forEach(e -> curve.put(e.getMetrics().getStep(), e.getMetrics().getLoss()));
        return curve;
    }
}

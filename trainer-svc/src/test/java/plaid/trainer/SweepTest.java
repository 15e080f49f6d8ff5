package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static plaid.trainer.JobPersistenceTests.assertStatus;
import static plaid.trainer.JobPersistenceTests.tinySpec;

import io.grpc.Status;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import plaid.v1.CancelSweepRequest;
import plaid.v1.GetJobRequest;
import plaid.v1.GetSweepRequest;
import plaid.v1.Job;
import plaid.v1.JobState;
import plaid.v1.ListSweepsRequest;
import plaid.v1.MedianStopping;
import plaid.v1.SubmitSweepRequest;
import plaid.v1.Sweep;
import plaid.v1.SweepParameter;
import plaid.v1.SweepRange;
import plaid.v1.SweepState;
import plaid.v1.SweepStrategy;
import plaid.v1.SweepTrial;
import plaid.v1.SweepValues;
import plaid.v1.TrainingSpec;
import plaid.v1.TrialState;

/** Sweeps through the service: trials run as jobs, ordered by validation NLL; cancelled; resumed from the store; bad spaces refused. */
@QuarkusTest
@TestProfile(TrainerServiceTestProfile.class)
class SweepTest extends LoopbackTrainerTest {

    @Inject
    SweepStore sweeps;

    @Inject
    JobStore jobs;

    @Inject
    JobRunner jobRunner;

    @Inject
    SweepRunner sweepRunner;

    static SweepParameter grid(String name, String... values) {
        return SweepParameter.newBuilder()
                .setName(name)
                .setGrid(SweepValues.newBuilder().addAllValues(List.of(values)))
                .build();
    }

    static SweepParameter range(String name, double min, double max, boolean log) {
        return SweepParameter.newBuilder()
                .setName(name)
                .setRange(SweepRange.newBuilder().setMin(min).setMax(max).setLog(log))
                .build();
    }

    /** A 2×2 grid over tiny jobs, two at a time. */
    static SubmitSweepRequest.Builder gridSweep(TrainingSpec base) {
        return SubmitSweepRequest.newBuilder()
                .setBase(base)
                .setStrategy(SweepStrategy.SWEEP_STRATEGY_GRID)
                .setMaxConcurrent(2)
                .addParameters(grid("lr", "1e-5", "3e-3"))
                .addParameters(grid("weight_decay", "0", "1e-4"));
    }

    Sweep awaitEnd(String sweepId) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < deadline) {
            Sweep sweep = trainer.getSweep(
                    GetSweepRequest.newBuilder().setSweepId(sweepId).build());
            if (sweep.getState() != SweepState.SWEEP_STATE_RUNNING) return sweep;
            Thread.sleep(100);
        }
        throw new AssertionError("sweep " + sweepId + " still running");
    }

    @Test
    void aFourTrialGridSweepRunsEveryTrialAsAJobAndNamesTheBest() throws InterruptedException {
        String requestId = UUID.randomUUID().toString();
        Sweep submitted = trainer.submitSweep(gridSweep(tinySpec(4))
                .setDisplayName("grid")
                .setRequestId(requestId)
                .build());
        assertThat(submitted.getState()).isEqualTo(SweepState.SWEEP_STATE_RUNNING);
        assertThat(submitted.getTrialsList())
                .extracting(SweepTrial::getParametersMap)
                .containsExactly(
                        java.util.Map.of("lr", "1e-5", "weight_decay", "0"),
                                java.util.Map.of("lr", "1e-5", "weight_decay", "1e-4"),
                        java.util.Map.of("lr", "3e-3", "weight_decay", "0"),
                                java.util.Map.of("lr", "3e-3", "weight_decay", "1e-4"));

        Sweep done = awaitEnd(submitted.getId());
        assertThat(done.getState()).isEqualTo(SweepState.SWEEP_STATE_SUCCEEDED);
        assertThat(done.getTrialsList()).hasSize(4).allSatisfy(trial -> {
            assertThat(trial.getState()).as(trial.getReason()).isEqualTo(TrialState.TRIAL_STATE_SUCCEEDED);
            assertThat(trial.getValidationNll()).isPositive().isFinite();
            assertThat(trial.getValidationStep()).isEqualTo(4);
            assertThat(trial.getValidationsMap()).containsEntry(4, trial.getValidationNll());
            Job job = trainer.getJob(
                    GetJobRequest.newBuilder().setJobId(trial.getJobId()).build());
            assertThat(job.getState()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
            assertThat(job.getDisplayName()).isEqualTo("grid trial " + trial.getIndex());
            assertThat(job.getSpec().getOptimization().getLr())
                    .isEqualTo(Double.parseDouble(trial.getParametersOrThrow("lr")));
            assertThat(job.getSpec().getOptimization().getWeightDecay())
                    .isEqualTo(Double.parseDouble(trial.getParametersOrThrow("weight_decay")));
        });
        assertThat(done.getTrialsList()).extracting(SweepTrial::getJobId).doesNotHaveDuplicates();
        SweepTrial best = done.getTrialsList().stream()
                .min(Comparator.comparingDouble(SweepTrial::getValidationNll))
                .orElseThrow();
        assertThat(done.getBestTrial()).isEqualTo(best.getIndex());
        // A retry returns the same sweep; the list shows it.
        assertThat(trainer.submitSweep(gridSweep(tinySpec(4))
                        .setDisplayName("grid")
                        .setRequestId(requestId)
                        .build()))
                .isEqualTo(done);
        assertThat(trainer.listSweeps(ListSweepsRequest.getDefaultInstance()).getSweepsList())
                .extracting(Sweep::getId)
                .contains(submitted.getId());
    }

    /**
     * A trial that cannot learn (lr 1e-9) is stopped at the first validation where it is worse than the completed
     * trial. Its steps must outlast the sweep's polling of its events (a 18-step tiny job on an idle machine ended
     * between two polls, before the rule could stop it), so it has 600.
     */
    @Test
    void theMedianRuleStopsHopelessTrials() throws InterruptedException {
        int steps = 600;
        TrainingSpec base = tinySpec(steps).toBuilder()
                .setReporting(tinySpec(steps).getReporting().toBuilder()
                        .setHookFreq(6)
                        .setCheckpointFreq(1000))
                .build();
        Sweep submitted = trainer.submitSweep(SubmitSweepRequest.newBuilder()
                .setBase(base)
                .setStrategy(SweepStrategy.SWEEP_STRATEGY_GRID)
                .addParameters(grid("lr", "3e-3", "1e-9"))
                .setEarlyStopping(MedianStopping.newBuilder().setEnabled(true).setMinCompletedTrials(1))
                .build());
        Sweep done = awaitEnd(submitted.getId());
        assertThat(done.getTrialsList())
                .extracting(SweepTrial::getState)
                .containsExactly(TrialState.TRIAL_STATE_SUCCEEDED, TrialState.TRIAL_STATE_STOPPED_EARLY);
        SweepTrial stopped = done.getTrials(1), completed = done.getTrials(0);
        int step = stopped.getValidationStep();
        assertThat(step).as("stopped before its end").isLessThan(steps).isPositive();
        assertThat(stopped.getReason()).contains("above the median");
        assertThat(stopped.getValidationNll())
                .isEqualTo(stopped.getValidationsOrThrow(step))
                .isGreaterThan(completed.getValidationsOrThrow(step));
        // The first step where it was worse is where it stopped.
        stopped.getValidationsMap().forEach((earlier, nll) -> {
            if (earlier < step) assertThat(nll).isLessThanOrEqualTo(completed.getValidationsOrThrow(earlier));
        });
        assertThat(done.getBestTrial()).isZero();
    }

    @Test
    void cancellingASweepCancelsItsRunningTrialAndSubmitsNoMore() throws InterruptedException {
        Sweep submitted = trainer.submitSweep(SubmitSweepRequest.newBuilder()
                .setBase(tinySpec(100_000))
                .setStrategy(SweepStrategy.SWEEP_STRATEGY_RANDOM)
                .setTrials(3)
                .setSeed(1)
                .addParameters(range("lr", 1e-4, 3e-3, true))
                .build());
        String first = awaitJobOfTrial(submitted.getId(), 0);
        Sweep cancelled = trainer.cancelSweep(
                CancelSweepRequest.newBuilder().setSweepId(submitted.getId()).build());
        assertThat(cancelled.getState()).isEqualTo(SweepState.SWEEP_STATE_CANCELLED);
        assertThat(cancelled.getTrialsList())
                .extracting(SweepTrial::getState)
                .containsOnly(TrialState.TRIAL_STATE_CANCELLED);
        assertThat(trainer.getJob(GetJobRequest.newBuilder().setJobId(first).build())
                        .getState())
                .isIn(JobState.JOB_STATE_CANCELLING, JobState.JOB_STATE_CANCELLED);
        Thread.sleep(600);
        Sweep later = trainer.getSweep(
                GetSweepRequest.newBuilder().setSweepId(submitted.getId()).build());
        assertThat(later.getTrialsList().subList(1, 3))
                .extracting(SweepTrial::getJobId)
                .containsOnly("");
        assertThat(later.getState()).isEqualTo(SweepState.SWEEP_STATE_CANCELLED);
        // Cancelling again returns it unchanged.
        assertThat(trainer.cancelSweep(CancelSweepRequest.newBuilder()
                        .setSweepId(submitted.getId())
                        .build()))
                .isEqualTo(later);
    }

    private String awaitJobOfTrial(String sweepId, int index) throws InterruptedException {
        for (int i = 0; i < 600; i++) {
            SweepTrial trial = trainer.getSweep(
                            GetSweepRequest.newBuilder().setSweepId(sweepId).build())
                    .getTrials(index);
            if (!trial.getJobId().isEmpty()
                    && trainer.getJob(GetJobRequest.newBuilder()
                                            .setJobId(trial.getJobId())
                                            .build())
                                    .getState()
                            == JobState.JOB_STATE_RUNNING) return trial.getJobId();
            Thread.sleep(50);
        }
        throw new AssertionError("trial " + index + " of sweep " + sweepId + " never ran");
    }

    /**
     * What a restart finds: a stored running sweep whose first trial's job was submitted but not
     * yet recorded on the trial (a crash in between). Following it again keeps that job and runs the rest.
     */
    @Test
    void aStoredRunningSweepIsResumedKeepingTheJobItHadSubmitted() throws InterruptedException {
        SubmitSweepRequest request = gridSweep(tinySpec(3))
                .clearParameters()
                .addParameters(grid("lr", "1e-3", "2e-3"))
                .setDisplayName("resumed")
                .build();
        List<SweepTrial> trials = SweepSpace.trials(request);
        Sweep stored = sweeps.create(request, trials);
        assertThat(sweeps.find(stored.getId())).contains(stored);
        assertThat(stored.getTrialsList()).isEqualTo(trials);
        assertThat(sweeps.running()).contains(stored.getId());
        Job orphan = jobs.create(
                SweepSpace.spec(request.getBase(), trials.getFirst()),
                "resumed trial 0",
                "sweep:" + stored.getId() + ":0",
                3);
        jobRunner.enqueue(orphan.getId());

        sweepRunner.resumeRunning();
        Sweep done = awaitEnd(stored.getId());
        assertThat(done.getState()).isEqualTo(SweepState.SWEEP_STATE_SUCCEEDED);
        assertThat(done.getTrials(0).getJobId()).isEqualTo(orphan.getId());
        assertThat(done.getTrialsList())
                .extracting(SweepTrial::getState)
                .containsOnly(TrialState.TRIAL_STATE_SUCCEEDED);
        assertThat(done.getTrials(1).getJobId()).isNotEqualTo(orphan.getId()).isNotEmpty();
    }

    @Test
    void badSpacesAreRefusedNamingTheFieldAndStoreNothing() {
        int before = trainer.listSweeps(
                        ListSweepsRequest.newBuilder().setPageSize(1000).build())
                .getSweepsCount();
        assertInvalid("base", r -> r.clearBase());
        assertInvalid("parameters", r -> r.clearParameters());
        assertInvalid("parameters[0].name", r -> r.setParameters(0, grid("lrr", "1e-3")));
        assertInvalid("parameters[0].name", r -> r.setParameters(0, grid("", "1e-3")));
        assertInvalid("parameters[1].name", r -> r.setParameters(1, grid("lr", "1e-3")));
        assertInvalid("parameters[0].grid.values", r -> r.setParameters(0, grid("lr")));
        assertInvalid("parameters[0].grid.values[1]", r -> r.setParameters(0, grid("lr", "1e-3", "fast")));
        assertInvalid(
                "parameters[0]",
                r -> r.setParameters(0, SweepParameter.newBuilder().setName("lr")));
        assertInvalid("parameters[0].range", r -> r.setParameters(0, range("lr", 1e-4, 3e-3, true)));
        assertInvalid(
                "parameters[0].range",
                r -> r.setStrategy(SweepStrategy.SWEEP_STRATEGY_RANDOM)
                        .setTrials(2)
                        .setParameters(0, range("lr", 3e-3, 1e-4, false)));
        assertInvalid(
                "parameters[0].range.min",
                r -> r.setStrategy(SweepStrategy.SWEEP_STRATEGY_RANDOM)
                        .setTrials(2)
                        .setParameters(0, range("lr", 0, 1e-3, true)));
        assertInvalid(
                "parameters[0].range",
                r -> r.setStrategy(SweepStrategy.SWEEP_STRATEGY_RANDOM)
                        .setTrials(2)
                        .setParameters(0, range("lr_scheduler", 0, 1, false)));
        assertInvalid(
                "parameters[0].range",
                r -> r.setStrategy(SweepStrategy.SWEEP_STRATEGY_RANDOM)
                        .setTrials(2)
                        .setParameters(0, range("n_blocks", 2.2, 2.8, false)));
        assertInvalid(
                "trials",
                r -> r.setStrategy(SweepStrategy.SWEEP_STRATEGY_RANDOM).setTrials(0));
        assertInvalid("trials", r -> r.setTrials(-1));
        assertInvalid("strategy", r -> r.setStrategy(SweepStrategy.SWEEP_STRATEGY_UNSPECIFIED));
        assertInvalid("max_concurrent", r -> r.setMaxConcurrent(-1));
        // A value the trainer would refuse, in one trial: the sweep is refused whole.
        assertInvalid("base.shape.n_heads", r -> r.setParameters(0, grid("n_heads", "2", "3")));
        assertStatus(
                Status.Code.NOT_FOUND,
                "base.corpus 'no-such.jsonl' is neither a corpus of data-svc",
                () -> trainer.submitSweep(gridSweep(tinySpec(10))
                        .setBase(tinySpec(10).toBuilder().setCorpus("no-such.jsonl"))
                        .build()));
        assertThat(trainer.listSweeps(
                                ListSweepsRequest.newBuilder().setPageSize(1000).build())
                        .getSweepsCount())
                .isEqualTo(before);

        assertStatus(
                Status.Code.INVALID_ARGUMENT, "sweep_id", () -> trainer.getSweep(GetSweepRequest.getDefaultInstance()));
        assertStatus(
                Status.Code.NOT_FOUND,
                "no sweep",
                () -> trainer.getSweep(
                        GetSweepRequest.newBuilder().setSweepId("none").build()));
        assertStatus(
                Status.Code.NOT_FOUND,
                "no sweep",
                () -> trainer.cancelSweep(
                        CancelSweepRequest.newBuilder().setSweepId("none").build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "page_token",
                () -> trainer.listSweeps(
                        ListSweepsRequest.newBuilder().setPageToken("x").build()));
    }

    private void assertInvalid(String field, UnaryOperator<SubmitSweepRequest.Builder> change) {
        SubmitSweepRequest request = change.apply(gridSweep(tinySpec(10))).build();
        assertStatus(Status.Code.INVALID_ARGUMENT, field + " ", () -> trainer.submitSweep(request));
    }
}

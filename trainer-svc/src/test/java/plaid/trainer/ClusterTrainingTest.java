package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import plaid.backend.ComputeBackend;
import plaid.backend.InProcessCollective;
import plaid.backend.cpu.CpuBackend;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.model.parallel.DataParallelTrainer;
import plaid.options.PlaidConfig;
import plaid.text.TokenStream;
import plaid.trainer.cluster.ClusterTestProfile;
import plaid.trainer.cluster.WorkerProcesses;
import plaid.v1.CancelJobRequest;
import plaid.v1.Job;
import plaid.v1.JobState;
import plaid.v1.Reporting;
import plaid.v1.TrainingSpec;

/**
 * Real training ranks in worker processes ({@code --runner plaid}): two worker JVMs on loopback,
 * one CPU rank each, meeting through the TCP reference collective, train the job's curve that
 * one process with two ranks (the service's own spec.devices=2 path: DataParallelTrainer over the
 * in-process collective) trains at the same global batch. The slices, the sums and their order
 * are the same, so the losses are equal exactly (asserted to 1e-12 relative, i.e. the double the
 * metrics event carries), and so is the final validation NLL, each worker evaluating its rank's
 * share of the batches. A worker killed mid-job: the coordinator restarts the attempt from the
 * last checkpoint and the job continues the same curve.
 */
@QuarkusTest
@TestProfile(ClusterTestProfile.class)
class ClusterTrainingTest extends LoopbackTrainerTest {
    private static final Duration PATIENCE = Duration.ofSeconds(150);
    private static final double BOUND = 1e-12;

    @Inject
    JobStore store;

    @Inject
    TrainerServiceConfig config;

    @Inject
    RunRoot root;

    private WorkerProcesses workers;

    @BeforeEach
    void prepareWorkers() {
        workers = new WorkerProcesses(server, config.root().getParent(), PATIENCE);
    }

    @AfterEach
    void cleanUp() {
        workers.killAll();
        cancelSubmitted();
    }

    /** With ZeRO-1 (spec.zero): each worker keeps half the AdamW moments; the curve is still the unsharded one's. */
    @Test
    void twoWorkersTrainTheCurveOfOneProcessWithTwoRanks() throws Exception {
        TrainingSpec spec = spec(6, 3).toBuilder().setZero(1).build();
        Job job = submit(spec, "cluster-training");
        startWorker(job.getId(), 0);
        startWorker(job.getId(), 1);

        Job done = awaitEnd(job.getId(), workers);
        assertThat(done.getState()).as(done.getFailure() + workers.logs()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        assertThat(done.getCheckpointsList()).extracting(c -> c.getStep()).containsExactly(3, 6);
        assertThat(messages(store, job.getId()))
                .anyMatch(m -> m.contains("ranks 0-0 of 2 on cpu (TCP reference all-reduce), 4 rows each")
                        && m.endsWith("; ZeRO-1: AdamW moments sharded over the ranks"))
                .anyMatch(m -> m.startsWith("finished 6 steps over 2 ranks: final validation NLL"));
        Reference reference = reference(job.getId(), spec);
        assertSameCurve(store.lossCurve(job.getId()), reference.losses());
        // Each worker validated its rank's batches (3 batches: 0 and 2 on rank 0, 1 on rank 1).
        assertThat(done.getLatestValidation().getStep()).isEqualTo(6);
        assertThat(Math.abs(done.getLatestValidation().getNll() - reference.validationNll()))
                .as(
                        "final validation NLL %s vs one process's %s",
                        done.getLatestValidation().getNll(), reference.validationNll())
                .isLessThanOrEqualTo(BOUND * reference.validationNll());
        for (Process w : workers.started()) {
            assertThat(w.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(w.exitValue()).as("Worker.SUCCEEDED").isZero();
        }
    }

    @Test
    void aKilledWorkerRestartsFromTheCheckpointAndContinuesTheSameCurve() throws Exception {
        TrainingSpec spec = spec(40, 4);
        Job job = submit(spec, "cluster-training");
        startWorker(job.getId(), 0);
        startWorker(job.getId(), 1);
        workers.await(() -> store.latestCheckpoint(job.getId()).isPresent(), "a checkpoint");

        workers.started().get(1).destroyForcibly(); // SIGKILL
        workers.await(
                () -> messages(store, job.getId()).stream().anyMatch(m -> m.startsWith("attempt 1 failed")),
                "the restart");
        startWorker(job.getId(), 1); // the orchestrator replaces the lost process

        Job done = awaitEnd(job.getId(), workers);
        assertThat(done.getState()).as(done.getFailure() + workers.logs()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        assertThat(messages(store, job.getId())).anyMatch(m -> m.startsWith("resuming at step "));
        SortedMap<Integer, Double> curve = store.lossCurve(job.getId());
        assertThat(curve).hasSize(40);
        assertSameCurve(curve, reference(job.getId(), spec).losses());
    }

    @Test
    void cancellingStopsEveryWorkerAtOneStepAfterACheckpoint() throws Exception {
        Job job = submit(spec(2000, 4), "cluster-training");
        startWorker(job.getId(), 0);
        startWorker(job.getId(), 1);
        workers.await(() -> store.latestCheckpoint(job.getId()).isPresent(), "a checkpoint");
        trainer.cancelJob(CancelJobRequest.newBuilder().setJobId(job.getId()).build());

        Job cancelled = awaitEnd(job.getId(), workers);
        assertThat(cancelled.getState())
                .as(cancelled.getFailure() + workers.logs())
                .isEqualTo(JobState.JOB_STATE_CANCELLED);
        // Rank 0's worker checkpointed where the workers agreed to stop: a resume_from continues there.
        int stoppedAt = cancelled.getCheckpointsList().getLast().getStep();
        assertThat(stoppedAt).isEqualTo(cancelled.getStep()).isLessThan(2000);
        for (Process w : workers.started()) {
            assertThat(w.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(w.exitValue()).as("Worker.JOB_ENDED").isEqualTo(3);
        }
    }

    private static void assertSameCurve(SortedMap<Integer, Double> curve, List<Double> reference) {
        assertThat(curve.keySet()).hasSize(reference.size());
        for (var e : curve.entrySet()) {
            double expected = reference.get(e.getKey());
            assertThat(Math.abs(e.getValue() - expected))
                    .as("step %d: %s vs one process's %s", e.getKey(), e.getValue(), expected)
                    .isLessThanOrEqualTo(BOUND * Math.abs(expected));
        }
    }

    private record Reference(List<Double> losses, double validationNll) {}

    /** The service's own two-rank path on the job's prepared data: one process, the in-process collective. */
    private Reference reference(String jobId, TrainingSpec spec) throws IOException {
        PlaidConfig options = RunPlan.of(spec, 3).config();
        TrainingCorpus.Prepared data = TrainingCorpus.prepared(root, jobId, spec.getCorpus());
        TokenStream stream = TokenStream.start(
                data.tokenizer(),
                TrainingCorpus.streamConfig(
                        data, plaid.text.CorpusDirectory.Split.TRAIN, options, config.shuffleBufferChunks()));
        List<ComputeBackend> backends = List.of(new CpuBackend(), new CpuBackend());
        List<PlaidParameters> replicas = new ArrayList<>();
        for (ComputeBackend b : backends) replicas.add(PlaidParameters.initialize(options, b, options.seed));
        List<Double> losses = new ArrayList<>();
        try (var dp = new DataParallelTrainer(
                options,
                replicas,
                InProcessCollective.group(backends),
                new RandomSource(options.seed),
                TrainingCorpus.batches(stream),
                0)) {
            for (int s = 0; s < options.steps; s++) {
                Trainer.StepMetrics m = dp.step(s).metrics();
                losses.add(m.loss());
            }
            TokenStream validation = TokenStream.start(
                    data.tokenizer(),
                    TrainingCorpus.streamConfig(
                            data, plaid.text.CorpusDirectory.Split.VALIDATION, options, config.shuffleBufferChunks()));
            double nll = dp.validationNll(
                    TrainingCorpus.batches(validation),
                    options.finalValSteps,
                    options.valBatchSize,
                    options.seed,
                    batches -> {});
            return new Reference(losses, nll);
        }
    }

    private static TrainingSpec spec(int steps, int checkpointFreq) {
        return TrainingSpec.newBuilder()
                .setCorpus(TrainingCorpus.DEMO)
                .setSeed(11)
                .setShape(TinyJobs.shape())
                .setOptimization(TinyJobs.optimization(steps, 2))
                .setReporting(Reporting.newBuilder()
                        .setPrintFreq(1)
                        .setHookFreq(1000)
                        .setValSteps(1)
                        .setValBatchSize(4)
                        .setFinalValSteps(3)
                        .setCheckpointFreq(checkpointFreq)
                        .setKeepCheckpoints(3))
                .build();
    }

    /** A worker JVM running the plaid runner with one CPU rank. */
    private Process startWorker(String jobId, int nodeIndex) throws IOException {
        return workers.start(
                jobId,
                PlaidRankRunner.NAME,
                nodeIndex,
                1,
                config.root(),
                List.of(
                        "--add-modules",
                        "jdk.incubator.vector",
                        "--enable-native-access=ALL-UNNAMED",
                        "-Dplaid.backend=cpu",
                        "-Dplaid.collective.host=127.0.0.1",
                        "-Dtrainer-svc.shuffle-buffer-chunks=" + config.shuffleBufferChunks()));
    }
}

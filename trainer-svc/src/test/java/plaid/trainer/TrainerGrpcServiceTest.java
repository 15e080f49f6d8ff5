package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import plaid.model.CheckpointDirectory;
import plaid.service.LoopbackChannels;
import plaid.service.PrometheusScrape;
import plaid.v1.CancelJobRequest;
import plaid.v1.CheckpointInfo;
import plaid.v1.CheckpointPlots;
import plaid.v1.EvaluateLikelihoodProgress;
import plaid.v1.EvaluateLikelihoodRequest;
import plaid.v1.GetCheckpointPlotsRequest;
import plaid.v1.GetJobRequest;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.LikelihoodResult;
import plaid.v1.ListJobsRequest;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainingSpec;
import plaid.v1.WatchJobRequest;

/** The trainer service on its default embedded H2 database: the job lifecycle and the rest of the API. */
@QuarkusTest
@TestProfile(TrainerServiceTestProfile.class)
class TrainerGrpcServiceTest extends JobPersistenceTests {

    @Test
    void healthCheckSaysServing() {
        assertThat(LoopbackChannels.health(channel)).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    }

    @Test
    void reflectionListsTheServices() throws Exception {
        assertThat(LoopbackChannels.reflectedServices(channel))
                .contains("plaid.v1.TrainerService", "grpc.health.v1.Health");
    }

    @Test
    void metricsCountStepsAndShowThroughput() throws Exception {
        watch(submit(tinySpec(3)).getId(), 0);
        String metrics = PrometheusScrape.metrics(server);
        assertThat(PrometheusScrape.value(metrics, "plaid_trainer_steps_total")).isGreaterThanOrEqualTo(3);
        assertThat(PrometheusScrape.value(metrics, "plaid_trainer_tokens_per_second"))
                .isPositive();
    }

    /**
     * spec.devices=2 on this CPU service: two CPU ranks with the reference all-reduce give the
     * one-device curve (float rounding: 1e-5 relative), report each rank's throughput and the
     * all-reduce's share, and one device resuming from their checkpoint continues the run.
     */
    @Test
    void twoCpuDevicesTrainTheOneDeviceCurveAndResumeOnOne() {
        int steps = 12;
        List<JobEvent> one = watch(submit(tinySpec(steps)).getId(), 0);
        Job twoJob = submit(tinySpec(steps).toBuilder().setDevices(2).build());
        List<JobEvent> two = watch(twoJob.getId(), 0);
        assertThat(two.getLast().getState()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        assertThat(two).anySatisfy(e -> assertThat(e.getMessage()).startsWith("data-parallel on 2 cpu ranks"));
        assertThat(two)
                .anySatisfy(e -> assertThat(e.getMessage())
                        .matches("ranks 0: \\d+ tokens/s, 1: \\d+ tokens/s; gradient all-reduce [0-9.]+% of a step,"
                                + " [0-9.]+% not overlapped"));
        List<Double> lossOne = losses(one), lossTwo = losses(two);
        assertThat(lossTwo).hasSize(steps).hasSameSizeAs(lossOne);
        for (int i = 0; i < steps; i++)
            assertThat(lossTwo.get(i))
                    .isCloseTo(
                            lossOne.get(i),
                            org.assertj.core.data.Offset.offset(1e-5 * Math.max(1, Math.abs(lossOne.get(i)))));

        // the 2-device job's step-10 checkpoint, resumed on 1 device with the same global batch
        CheckpointInfo ten = two.stream()
                .filter(JobEvent::hasCheckpoint)
                .map(JobEvent::getCheckpoint)
                .filter(c -> c.getStep() == 10)
                .findFirst()
                .orElseThrow();
        List<JobEvent> resumed = watch(
                submit(tinySpec(steps).toBuilder().setResumeFrom(ten.getPath()).build())
                        .getId(),
                0);
        assertThat(resumed.getLast().getState()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        List<Double> tail = losses(resumed);
        assertThat(tail).hasSize(2);
        for (int i = 0; i < 2; i++)
            assertThat(tail.get(i))
                    .isCloseTo(
                            lossOne.get(10 + i),
                            org.assertj.core.data.Offset.offset(1e-4 * Math.max(1, Math.abs(lossOne.get(10 + i)))));
    }

    /**
     * spec.zero=1 on two CPU ranks: each keeps the AdamW moments of its share of the parameters,
     * and the losses and the final validation NLL are the unsharded two ranks' to the bit.
     */
    @Test
    void zeroOneShardsTheMomentsAndTrainsTheSameCurve() {
        int steps = 12;
        List<JobEvent> plain =
                watch(submit(tinySpec(steps).toBuilder().setDevices(2).build()).getId(), 0);
        List<JobEvent> sharded = watch(
                submit(tinySpec(steps).toBuilder().setDevices(2).setZero(1).build())
                        .getId(),
                0);
        assertThat(sharded.getLast().getState()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        assertThat(sharded)
                .anySatisfy(e -> assertThat(e.getMessage()).endsWith("; ZeRO-1: AdamW moments sharded over the ranks"));
        assertThat(losses(sharded)).hasSize(steps).containsExactlyElementsOf(losses(plain));
        assertThat(finalValidation(sharded)).isEqualTo(finalValidation(plain));
    }

    private static double finalValidation(List<JobEvent> events) {
        return events.stream()
                .filter(JobEvent::hasValidation)
                .reduce((a, b) -> b)
                .orElseThrow()
                .getValidation()
                .getNll();
    }

    @Test
    void badRequestsAreRefusedNamingTheField() {
        assertInvalid("spec", SubmitJobRequest.newBuilder().build());
        assertInvalid(
                "spec.shape.n_heads",
                spec -> spec.setShape(spec.getShape().toBuilder().setDim(30).setNHeads(4)));
        assertInvalid(
                "spec.shape.vocab_size",
                spec -> spec.setShape(spec.getShape().toBuilder().setVocabSize(100)));
        assertInvalid(
                "spec.shape.gamma_1",
                spec -> spec.setShape(spec.getShape().toBuilder().setGamma1(-5)));
        assertInvalid(
                "spec.optimization.steps",
                spec -> spec.setOptimization(spec.getOptimization().toBuilder().setSteps(0)));
        assertInvalid(
                "spec.optimization.batch_size",
                spec -> spec.setOptimization(spec.getOptimization().toBuilder().setBatchSize(1)));
        assertInvalid(
                "spec.reporting.hook_freq",
                spec -> spec.setReporting(spec.getReporting().toBuilder().setHookFreq(0)));
        assertInvalid("spec.zero", spec -> spec.setZero(2));
        assertInvalid(
                "spec.reporting.print_freq",
                spec -> spec.setReporting(spec.getReporting().toBuilder().setPrintFreq(0)));
        assertInvalid(
                "spec.reporting.keep_checkpoints",
                spec -> spec.setReporting(spec.getReporting().toBuilder().setKeepCheckpoints(0)));
        assertInvalid("spec.corpus", spec -> spec.setCorpus(""));
        assertInvalid("spec.corpus", spec -> spec.setCorpus("../outside.txt"));
        assertStatus(
                Status.Code.NOT_FOUND,
                "spec.corpus 'no-such-corpus.jsonl' is neither a corpus of data-svc",
                () -> trainer.submitJob(SubmitJobRequest.newBuilder()
                        .setSpec(tinySpec(5).toBuilder().setCorpus("no-such-corpus.jsonl"))
                        .build()));
        assertInvalid("spec.resume_from", spec -> spec.setResumeFrom("jobs/none/checkpoints/step-1"));
        assertInvalid("spec.devices", spec -> spec.setDevices(-1));
        assertInvalid("spec.devices", spec -> spec.setDevices(65));
        assertInvalid("spec.devices", spec -> spec.setDevices(3)); // does not divide batch_size 8
        assertInvalid(
                "spec.shape.diffusion_mode",
                spec -> spec.setShape(spec.getShape().toBuilder().setDiffusionMode("BoW_embedding_reconst_frist")));
        assertInvalid(
                "spec.shape.bow_cumsum_gamma",
                spec -> spec.setShape(spec.getShape().toBuilder().setDiffusionMode("BoW_embedding")));
        assertInvalid(
                "spec.shape.bow_cumsum_gamma",
                spec -> spec.setShape(spec.getShape().toBuilder()
                        .setDiffusionMode("BoW_embedding")
                        .setBowCumsumGamma(1.5)));
        assertInvalid(
                "spec.optimization.lr_scheduler",
                spec -> spec.setOptimization(spec.getOptimization().toBuilder().setLrScheduler("step")));
        assertInvalid(
                "spec.optimization.reconst_secondary_weight",
                spec -> spec.setOptimization(spec.getOptimization().toBuilder().setReconstSecondaryWeight(-1)));
        assertInvalid(
                "spec.reporting.model_save_path",
                spec -> spec.setReporting(spec.getReporting().toBuilder().setModelSavePath("../outside")));
        assertInvalid(
                "spec.reporting.model_save_path",
                spec -> spec.setReporting(spec.getReporting().toBuilder().setModelSavePath("jobs/mine")));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "page_size",
                () -> trainer.listJobs(
                        ListJobsRequest.newBuilder().setPageSize(-1).build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "page_token",
                () -> trainer.listJobs(
                        ListJobsRequest.newBuilder().setPageToken("x").build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "job_id", () -> trainer.getJob(GetJobRequest.getDefaultInstance()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "checkpoint",
                () -> trainer.getCheckpointPlots(GetCheckpointPlotsRequest.newBuilder()
                        .setCheckpoint("/etc")
                        .build()));
    }

    /** The reproduction: lr=1e3 takes the loss to NaN; the job fails naming the step and term, its checkpoints finite. */
    @Test
    void aDivergingJobFailsAndKeepsItsLastGoodCheckpoint() throws IOException {
        TrainingSpec base = tinySpec(40);
        TrainingSpec spec = base.toBuilder()
                .setOptimization(base.getOptimization().toBuilder().setLr(1e3).setLrWarmupSteps(0))
                .setReporting(base.getReporting().toBuilder()
                        .setHookFreq(20)
                        .setValSteps(1)
                        .setValBatchSize(4)
                        .setFinalValSteps(2)
                        .setCheckpointFreq(5))
                .build();
        Job submitted = submit(spec);
        List<JobEvent> events = watch(submitted.getId(), 0);
        assertThat(events.getLast().getState()).as(events.toString()).isEqualTo(JobState.JOB_STATE_FAILED);
        Job failed = trainer.getJob(
                GetJobRequest.newBuilder().setJobId(submitted.getId()).build());
        assertThat(failed.getFailure())
                .startsWith("training diverged at step ")
                .containsAnyOf(" is NaN", " is Infinity", " is -Infinity");
        assertThat(events)
                .anySatisfy(e -> assertThat(e.getMessage())
                        .startsWith(failed.getFailure())
                        .contains("the job fails"));
        assertThat(events)
                .noneSatisfy(e -> assertThat(e.hasValidation()
                                && !Double.isFinite(e.getValidation().getNll()))
                        .isTrue());
        // every checkpoint it wrote holds finite weights (the NaN ones were never saved)
        assertThat(failed.getCheckpointsList()).isNotEmpty().allSatisfy(c -> {
            var dir = root.path().resolve(c.getPath());
            var checkpointDir = plaid.model.CheckpointDirectory.open(dir);
            var params = checkpointDir.loadWeights(checkpointDir.config(), new plaid.backend.cpu.CpuBackend());
            for (float[] values : params.snapshotValues())
                for (float v : values)
                    assertThat(Float.isFinite(v)).as(c.getPath()).isTrue();
        });
    }

    @Test
    void aJobThatCannotFitInMemoryIsRefusedAtSubmissionWithTheEstimate() {
        for (UnaryOperator<TrainingSpec.Builder> change : List.<UnaryOperator<TrainingSpec.Builder>>of(
                // issue 21's seq_len=100000000 and batch_size=99999998 are out of the option table's
                // ranges now; the largest in range still cannot fit a service's heap
                spec -> spec.setShape(spec.getShape().toBuilder().setSeqLen(8192))
                        .setOptimization(spec.getOptimization().toBuilder().setBatchSize(4096)),
                spec -> spec.setShape(spec.getShape().toBuilder()
                                .setVocabSize(1 << 20)
                                .setSeqLen(4096))
                        .setOptimization(spec.getOptimization().toBuilder().setBatchSize(1024)))) {
            StatusRuntimeException refusal = org.junit.jupiter.api.Assertions.assertThrows(
                    StatusRuntimeException.class,
                    () -> trainer.submitJob(SubmitJobRequest.newBuilder()
                            .setSpec(change.apply(tinySpec(STEPS).toBuilder()))
                            .build()));
            assertThat(refusal.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(refusal.getStatus().getDescription())
                    .startsWith("the job needs about ")
                    .contains("heap is ");
        }
    }

    /** The final checkpoint comes before the final validation, whose progress is reported. */
    @Test
    void theFinalCheckpointPrecedesTheFinalValidationWhichReportsProgress() {
        TrainingSpec base = tinySpec(4);
        List<JobEvent> events = watch(
                submit(base.toBuilder()
                                .setReporting(base.getReporting().toBuilder().setFinalValSteps(20))
                                .build())
                        .getId(),
                0);
        int checkpoint =
                indexOf(events, e -> e.hasCheckpoint() && e.getCheckpoint().getStep() == 4);
        int validation =
                indexOf(events, e -> e.hasValidation() && e.getValidation().getStep() == 4);
        assertThat(checkpoint).isPositive().isLessThan(validation);
        assertThat(events.subList(checkpoint, validation).stream()
                        .filter(JobEvent::hasValidating)
                        .map(JobEvent::getValidating))
                .extracting(v -> v.getBatchesDone())
                .containsExactly(2, 4, 6, 8, 10, 12, 14, 16, 18);
        assertThat(events.get(checkpoint + 1).getValidating().getBatches()).isEqualTo(20);
        assertThat(events.getLast().getState()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
    }

    private static int indexOf(List<JobEvent> events, java.util.function.Predicate<JobEvent> which) {
        for (int i = 0; i < events.size(); i++) if (which.test(events.get(i))) return i;
        return -1;
    }

    @Test
    void aRefusedDiffusionModeListsTheValidWords() {
        TrainingSpec spec = tinySpec(STEPS).toBuilder()
                .setShape(tinySpec(STEPS).getShape().toBuilder().setDiffusionMode("[token|BoW|see"))
                .build();
        StatusRuntimeException refusal = org.junit.jupiter.api.Assertions.assertThrows(
                StatusRuntimeException.class,
                () -> trainer.submitJob(
                        SubmitJobRequest.newBuilder().setSpec(spec).build()));
        assertThat(refusal.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(refusal.getStatus().getDescription())
                .startsWith("spec.shape.diffusion_mode ")
                .contains("BoW_embedding, reconst_first, pred_x0, diff_lm_norms, double_logit_reg");
    }

    /** A job of the fork's mode: named by its run name, checkpointed under its model_save_path with the mode in config.json. */
    @Test
    void aBowModeJobSavesWhereModelSavePathSaysWithItsModeInConfigJson() throws IOException {
        TrainingSpec base = tinySpec(4);
        TrainingSpec spec = base.toBuilder()
                .setShape(base.getShape().toBuilder()
                        .setDiffusionMode("BoW_embedding_reconst_first_pred_x0")
                        .setBowCumsumGamma(0.5))
                .setOptimization(base.getOptimization().toBuilder().setLrScheduler("cosine"))
                .setReporting(base.getReporting().toBuilder()
                        .setModelSavePath("hype_saves/bow_g=0.5")
                        .setWandbRunName("bow_g=0.5")
                        .setDebug(true))
                .build();
        Job submitted =
                trainer.submitJob(SubmitJobRequest.newBuilder().setSpec(spec).build());
        assertThat(submitted.getDisplayName()).as("the run name names the job").isEqualTo("bow_g=0.5");
        List<JobEvent> events = watch(submitted.getId(), 0);
        assertThat(events.getLast().getState()).as(events.toString()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        Job done = trainer.getJob(
                GetJobRequest.newBuilder().setJobId(submitted.getId()).build());
        assertThat(done.getCheckpointsList())
                .isNotEmpty()
                .allSatisfy(c -> assertThat(c.getPath()).startsWith("hype_saves/bow_g=0.5/step-"));
        var config = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(TrainerServiceTestProfile.RUN_ROOT
                        .resolve(done.getCheckpoints(done.getCheckpointsCount() - 1)
                                .getPath())
                        .resolve("config.json")
                        .toFile());
        assertThat(config.get("diffusion_mode").asText()).isEqualTo("BoW_embedding_reconst_first_pred_x0");
        assertThat(config.get("BoW_cumsum_gamma").asDouble()).isEqualTo(0.5);
        assertThat(config.get("lr_scheduler").asText()).isEqualTo("cosine");
        assertThat(config.get("wandb_run_name").asText()).isEqualTo("bow_g=0.5");
        assertThat(config.get("debug").asBoolean()).isTrue();

        assertInvalid(
                "spec.reporting.model_save_path",
                SubmitJobRequest.newBuilder().setSpec(spec).build());
        assertThat(trainer.submitJob(SubmitJobRequest.newBuilder()
                                .setSpec(spec.toBuilder()
                                        .setReporting(
                                                spec.getReporting().toBuilder().setModelSavePath("hype_saves/other")))
                                .setDisplayName("mine")
                                .build())
                        .getDisplayName())
                .as("a request's name wins")
                .isEqualTo("mine");
    }

    @Test
    void unknownJobsAndCheckpointsAreNotFound() {
        String unknown = "no-such-job";
        assertStatus(
                Status.Code.NOT_FOUND,
                "no job",
                () -> trainer.getJob(
                        GetJobRequest.newBuilder().setJobId(unknown).build()));
        assertStatus(
                Status.Code.NOT_FOUND,
                "no job",
                () -> trainer.cancelJob(
                        CancelJobRequest.newBuilder().setJobId(unknown).build()));
        assertStatus(
                Status.Code.NOT_FOUND,
                "no job",
                () -> trainer.watchJob(
                                WatchJobRequest.newBuilder().setJobId(unknown).build())
                        .next());
        assertStatus(
                Status.Code.NOT_FOUND,
                "no checkpoint",
                () -> trainer.getCheckpointPlots(GetCheckpointPlotsRequest.newBuilder()
                        .setCheckpoint("jobs/x/checkpoints/step-1")
                        .build()));
        assertStatus(
                Status.Code.NOT_FOUND,
                "no checkpoint",
                () -> trainer.evaluateLikelihood(EvaluateLikelihoodRequest.newBuilder()
                                .setCheckpoint("jobs/x/checkpoints/step-1")
                                .setDataset("ptb")
                                .setSplit("valid")
                                .build())
                        .next());
    }

    /**
     * A job cancelled mid-run checkpoints where it stopped; a new job resuming that checkpoint
     * continues with exactly the losses of an uninterrupted run with the same seed.
     */
    @Test
    void cancelledJobCheckpointsAndAResumedJobContinuesExactly() {
        List<Double> uninterrupted = losses(watch(submit(tinySpec(STEPS)).getId(), 0));

        Job cancelled = submit(tinySpec(STEPS));
        Iterator<JobEvent> live = trainer.watchJob(
                WatchJobRequest.newBuilder().setJobId(cancelled.getId()).build());
        List<JobEvent> events = new ArrayList<>();
        while (!events.stream().anyMatch(e -> e.hasMetrics() && e.getMetrics().getStep() >= 2)) events.add(live.next());
        Job cancelling = trainer.cancelJob(
                CancelJobRequest.newBuilder().setJobId(cancelled.getId()).build());
        assertThat(cancelling.getState()).isEqualTo(JobState.JOB_STATE_CANCELLING);
        live.forEachRemaining(events::add);
        assertThat(events.getLast().getState()).isEqualTo(JobState.JOB_STATE_CANCELLED);
        CheckpointInfo last = events.stream()
                .filter(JobEvent::hasCheckpoint)
                .map(JobEvent::getCheckpoint)
                .toList()
                .getLast();
        assertThat(last.getResumable()).isTrue();
        int stoppedAt = last.getStep();
        assertThat(stoppedAt).isBetween(3, STEPS - 1);
        assertThat(losses(events)).isEqualTo(uninterrupted.subList(0, stoppedAt));
        // Cancelling a finished job changes nothing.
        assertThat(trainer.cancelJob(CancelJobRequest.newBuilder()
                                .setJobId(cancelled.getId())
                                .build())
                        .getState())
                .isEqualTo(JobState.JOB_STATE_CANCELLED);

        Job resumed =
                submit(tinySpec(STEPS).toBuilder().setResumeFrom(last.getPath()).build());
        assertThat(losses(watch(resumed.getId(), 0))).isEqualTo(uninterrupted.subList(stoppedAt, STEPS));
    }

    @Test
    void checkpointsComeWithPlotsAndEvaluateOnAZeroShotText() throws IOException {
        Job job = submit(tinySpec(CHECKPOINT_FREQ));
        watch(job.getId(), 0);
        String checkpoint = trainer.getJob(
                        GetJobRequest.newBuilder().setJobId(job.getId()).build())
                .getCheckpoints(0)
                .getPath();

        CheckpointPlots plots = trainer.getCheckpointPlots(
                GetCheckpointPlotsRequest.newBuilder().setCheckpoint(checkpoint).build());
        assertThat(isPng(plots.getNoiseSchedulePng().toByteArray())).isTrue();
        assertThat(isPng(plots.getLossCurvePng().toByteArray())).isTrue();

        // The directory stands on its own: shape and tokenizer beside the weights.
        assertThat(CheckpointDirectory.open(root.path().resolve(checkpoint))
                        .config()
                        .asMap())
                .containsEntry("dim", 32)
                .containsEntry("n_blocks", 2);
        assertThat(root.path().resolve(checkpoint).resolve(CheckpointDirectory.TOKENIZER_FILE))
                .isRegularFile();

        Files.writeString(
                root.path().resolve("ptb.valid.txt"),
                " the house of commons voted on the motion . \n the debate continued in the chamber . \n");
        List<EvaluateLikelihoodProgress> progress = new ArrayList<>();
        trainer.evaluateLikelihood(EvaluateLikelihoodRequest.newBuilder()
                        .setCheckpoint(checkpoint)
                        .setDataset("ptb")
                        .setSplit("valid")
                        .setSeed(3)
                        .setMaxSequences(3)
                        .build())
                .forEachRemaining(progress::add);
        assertThat(progress.getFirst().getRunning().getSequencesTotal()).isEqualTo(3);
        LikelihoodResult result = progress.getLast().getResult();
        assertThat(result.getDataset()).isEqualTo("ptb");
        assertThat(result.getUnit()).isEqualTo(LikelihoodResult.Unit.UNIT_WORDS);
        assertThat(result.getUnits()).isPositive();
        assertThat(result.getTokens()).isPositive();
        assertThat(result.getPerplexityOrBpc()).isFinite().isGreaterThan(1);
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "split",
                () -> trainer.evaluateLikelihood(EvaluateLikelihoodRequest.newBuilder()
                                .setCheckpoint(checkpoint)
                                .setDataset("ptb")
                                .setSplit("train")
                                .build())
                        .next());
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "dataset",
                () -> trainer.evaluateLikelihood(EvaluateLikelihoodRequest.newBuilder()
                                .setCheckpoint(checkpoint)
                                .setDataset("imdb")
                                .build())
                        .next());
    }

    private void assertInvalid(String field, UnaryOperator<TrainingSpec.Builder> change) {
        assertInvalid(
                field,
                SubmitJobRequest.newBuilder()
                        .setSpec(change.apply(tinySpec(STEPS).toBuilder()))
                        .build());
    }

    private void assertInvalid(String field, SubmitJobRequest request) {
        assertStatus(Status.Code.INVALID_ARGUMENT, field + " ", () -> trainer.submitJob(request));
    }
}

package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import plaid.options.PlaidConfig;
import plaid.text.CorpusDirectory;
import plaid.text.TokenStream;
import plaid.v1.CancelJobRequest;
import plaid.v1.CheckpointInfo;
import plaid.v1.EvaluateLikelihoodProgress;
import plaid.v1.EvaluateLikelihoodRequest;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainingSpec;
import plaid.v1.WatchJobRequest;

/**
 * Jobs on a corpus of data-svc, read in place from the corpus root: an OWT2-format corpus made
 * from generated archives as PrepareDataset makes it ({@link Owt2TestCorpus}). Its jobs read
 * exactly the document buffer's stream over the corpus's shards with the corpus's tokenizer,
 * and a resumed job continues it exactly; a missing or unfinished corpus is refused at submission.
 */
@QuarkusTest
@TestProfile(TrainerServiceTestProfile.class)
class SharedCorpusTest extends LoopbackTrainerTest {
    private static final Path CORPUS_ROOT = TrainerServiceTestProfile.CORPUS_ROOT;
    private static final String CORPUS = "openwebtext2";
    private static final int STEPS = 12;

    @Inject
    RunRoot root;

    @Inject
    TrainingCorpus corpora;

    @BeforeAll
    static void prepareCorpus() throws IOException {
        Owt2TestCorpus.write(CORPUS_ROOT, CORPUS);
    }

    @Test
    void aJobOnTheCorpusReadsTheDocumentBufferOverItsShardsWithItsTokenizer() throws IOException {
        List<JobEvent> events = watch(submit(spec()).getId(), 0);
        assertThat(events.getLast().getState()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        assertThat(events).anyMatch(JobEvent::hasValidation);
        CheckpointInfo last = checkpoints(events).getLast();
        Path checkpoint = root.path().resolve(last.getPath());
        CorpusDirectory corpus = CorpusDirectory.open(CorpusDirectory.folder(CORPUS_ROOT, CORPUS));
        assertThat(checkpoint.resolve("tokenizer.json")).hasSameBinaryContentAs(corpus.tokenizerFile());

        // The job's stream is rank 0 of 1 of the corpus's train shards, as StreamBatches deals them.
        PlaidConfig options = RunPlan.of(spec(), 3).config();
        TrainingCorpus.Prepared prepared = corpora.prepare("any", CORPUS, options);
        assertThat(prepared.corpus().folder()).isEqualTo(corpus.folder());
        TokenStream.Config config = corpora.streamConfig(prepared, CorpusDirectory.Split.TRAIN, options);
        assertThat(config.shards()).isEqualTo(corpus.shards(CorpusDirectory.Split.TRAIN));
        assertThat(config).isEqualTo(corpus.stream(CorpusDirectory.Split.TRAIN, 16, 1, 64, options.seed, 0, 1));

        // Replaying that stream for as many rows as the job took ends where the job's saved stream is.
        TokenStream.State saved = TokenStream.State.read(checkpoint.resolve(TrainingLoop.STREAM_STATE));
        assertThat(saved.batches()).isPositive();
        TokenStream replay = TokenStream.start(corpus.tokenizer(), config);
        for (long row = 0; row < saved.batches(); row++) replay.nextBatch();
        TokenStream.State replayed = replay.state();
        assertThat(replayed.random()).isEqualTo(saved.random());
        assertThat(replayed.shardVisits()).isEqualTo(saved.shardVisits());
        assertThat(replayed.startLine()).isEqualTo(saved.startLine());
        assertThat(replayed.linesRead()).isEqualTo(saved.linesRead());
        assertThat(replayed.documentBuffer()).isEqualTo(saved.documentBuffer());
        assertThat(replayed.carry()).isEqualTo(saved.carry());
        assertThat(replayed.chunkBuffer()).usingRecursiveComparison().isEqualTo(saved.chunkBuffer());

        // Zero-shot sets come from data-svc's root; a missing raw file says which file to put where.
        Files.writeString(
                CORPUS_ROOT.resolve("wikitext2.valid.tokens"),
                " = Boats = \n \n The river boats @-@ old and new @-@ carry maps to the bakery . \n");
        List<EvaluateLikelihoodProgress> progress = new ArrayList<>();
        trainer.evaluateLikelihood(EvaluateLikelihoodRequest.newBuilder()
                        .setCheckpoint(last.getPath())
                        .setDataset("wikitext2")
                        .setSplit("valid")
                        .setMaxSequences(2)
                        .build())
                .forEachRemaining(progress::add);
        assertThat(progress.getLast().getResult().getDataset()).isEqualTo("wikitext2");
        assertThat(progress.getLast().getResult().getPerplexityOrBpc())
                .isFinite()
                .isGreaterThan(1);
        StatusRuntimeException missing = assertThrows(
                StatusRuntimeException.class,
                () -> trainer.evaluateLikelihood(EvaluateLikelihoodRequest.newBuilder()
                                .setCheckpoint(last.getPath())
                                .setDataset("text8")
                                .build())
                        .next());
        assertThat(missing.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
        assertThat(missing.getStatus().getDescription())
                .startsWith("dataset text8 needs the raw file text8; put it at the top of data-svc's data root");
    }

    @Test
    void aJobWhoseCorpusWasPreparedAgainStopsInsteadOfReadingOtherBatches() throws IOException {
        Owt2TestCorpus.write(CORPUS_ROOT, "owt2-again");
        PlaidConfig options = RunPlan.of(spec(), 3).config();
        corpora.prepare("job-seen", "owt2-again", options);
        corpora.prepare("job-seen", "owt2-again", options); // the same preparation: fine
        Path folder = CorpusDirectory.folder(CORPUS_ROOT, "owt2-again");
        CorpusDirectory.Manifest manifest = CorpusDirectory.open(folder).manifest();
        CorpusDirectory.seal(
                folder,
                folder.resolve(CorpusDirectory.TOKENIZER_FILE),
                new CorpusDirectory.Manifest(
                        manifest.source(),
                        manifest.trainShards(),
                        manifest.trainDocuments() + 1,
                        manifest.validationDocuments()));
        assertThatThrownBy(() -> corpora.prepare("job-seen", "owt2-again", options))
                .hasMessageStartingWith("corpus owt2-again was prepared again since this job started");
        corpora.prepare("another-job", "owt2-again", options);
    }

    @Test
    void aResumedJobReadsTheBatchesItWouldHaveRead() {
        List<Double> uninterrupted = losses(watch(submit(spec()).getId(), 0));

        Job cancelled = submit(spec());
        Iterator<JobEvent> live = trainer.watchJob(
                WatchJobRequest.newBuilder().setJobId(cancelled.getId()).build());
        List<JobEvent> events = new ArrayList<>();
        while (events.stream().noneMatch(e -> e.hasMetrics() && e.getMetrics().getStep() >= 2)) events.add(live.next());
        trainer.cancelJob(
                CancelJobRequest.newBuilder().setJobId(cancelled.getId()).build());
        live.forEachRemaining(events::add);
        assertThat(events.getLast().getState()).isEqualTo(JobState.JOB_STATE_CANCELLED);
        CheckpointInfo last = checkpoints(events).getLast();
        int stoppedAt = last.getStep();
        assertThat(stoppedAt).isBetween(3, STEPS - 1);

        Job resumed = submit(spec().toBuilder().setResumeFrom(last.getPath()).build());
        assertThat(losses(watch(resumed.getId(), 0))).isEqualTo(uninterrupted.subList(stoppedAt, STEPS));
    }

    @Test
    void aMissingOrUnfinishedCorpusIsRefusedAtSubmissionSayingWhatToRun() throws IOException {
        assertRefused(
                Status.Code.NOT_FOUND,
                "spec.corpus 'owt2-missing' is neither a corpus of data-svc",
                "plaid data prepare owt2-missing --from DIR",
                "owt2-missing");

        Path building = CorpusDirectory.buildingFolder(CORPUS_ROOT, "owt2-half");
        assertRefused(
                Status.Code.FAILED_PRECONDITION,
                "spec.corpus 'owt2-half' is still being prepared by data-svc",
                "plaid data prepare owt2-half",
                "owt2-half");
        Files.move(building, CorpusDirectory.folder(CORPUS_ROOT, "owt2-half"));
        assertRefused(
                Status.Code.FAILED_PRECONDITION,
                "spec.corpus 'owt2-half' is incomplete in data-svc (no corpus.json)",
                "plaid data prepare owt2-half --from DIR",
                "owt2-half");

        // The corpus's tokenizer bounds the vocabulary as the service's does.
        StatusRuntimeException small = assertThrows(
                StatusRuntimeException.class,
                () -> submit(spec().toBuilder()
                        .setShape(spec().getShape().toBuilder().setVocabSize(260))
                        .build()));
        assertThat(small.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(small.getStatus().getDescription())
                .startsWith("spec.shape.vocab_size must be at least the corpus openwebtext2's ");
    }

    private void assertRefused(Status.Code code, String start, String contains, String corpus) {
        StatusRuntimeException refusal = assertThrows(
                StatusRuntimeException.class,
                () -> submit(spec().toBuilder().setCorpus(corpus).build()));
        assertThat(refusal.getStatus().getCode()).isEqualTo(code);
        assertThat(refusal.getStatus().getDescription()).startsWith(start).contains(contains);
    }

    private static TrainingSpec spec() {
        return JobPersistenceTests.tinySpec(STEPS).toBuilder()
                .setCorpus(CORPUS)
                .setReporting(JobPersistenceTests.tinySpec(STEPS).getReporting().toBuilder()
                        .setHookFreq(4)
                        .setCheckpointFreq(4))
                .build();
    }

    private Job submit(TrainingSpec spec) {
        return trainer.submitJob(SubmitJobRequest.newBuilder().setSpec(spec).build());
    }

    private static List<CheckpointInfo> checkpoints(List<JobEvent> events) {
        return events.stream()
                .filter(JobEvent::hasCheckpoint)
                .map(JobEvent::getCheckpoint)
                .toList();
    }

    private static List<Double> losses(List<JobEvent> events) {
        return JobPersistenceTests.losses(events);
    }
}

package plaid.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.luben.zstd.ZstdOutputStream;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import plaid.service.LoopbackChannels;
import plaid.text.CorpusDirectory;
import plaid.text.TokenStream;
import plaid.v1.DataServiceGrpc;
import plaid.v1.DatasetInfo;
import plaid.v1.ListDatasetsRequest;
import plaid.v1.PrepareDatasetProgress;
import plaid.v1.PrepareDatasetRequest;
import plaid.v1.PrepareReport;
import plaid.v1.SourceFormat;
import plaid.v1.Split;
import plaid.v1.StreamBatchesRequest;
import plaid.v1.TokenBatch;

/**
 * PrepareDataset from the release's .tar with no service tokenizer (the corpus trains its
 * own), the refusals of bad sources with nothing left behind, and StreamBatches giving
 * exactly the document buffer's batches over the corpus it made.
 */
@QuarkusTest
@TestProfile(UntokenizedDataServiceTestProfile.class)
class CorpusPreparationTest {
    private static final Path ROOT = UntokenizedDataServiceTestProfile.ROOT;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TestHTTPResource("/")
    URI server;

    private ManagedChannel channel;
    private DataServiceGrpc.DataServiceBlockingStub data;

    @BeforeEach
    void connect() {
        channel = LoopbackChannels.open(server);
        data = DataServiceGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void disconnect() {
        channel.shutdownNow();
    }

    @Test
    void aTarPreparesACorpusWithItsOwnTokenizerWhoseBatchesAreTheDocumentBuffers() throws IOException {
        Path raw = Files.createDirectories(ROOT.resolve("raw"));
        writeArchive(raw.resolve("2020-01.jsonl.zst"), 0, 30);
        writeArchive(raw.resolve("2020-02.jsonl.zst"), 30, 30);
        writeTar(ROOT.resolve("openwebtext2.jsonl.zst.tar"), raw, "2020-01.jsonl.zst", "2020-02.jsonl.zst");

        List<PrepareDatasetProgress> progress = new ArrayList<>();
        data.prepareDataset(PrepareDatasetRequest.newBuilder()
                        .setSourceDir("openwebtext2.jsonl.zst.tar")
                        .setCorpus("openwebtext2")
                        .setValidationDocuments(6)
                        .setTrainShards(2)
                        .setTokenizerVocabSize(400)
                        .build())
                .forEachRemaining(progress::add);
        assertThat(progress.getFirst().getStarted().getArchivesList())
                .containsExactly("2020-02.jsonl.zst", "2020-01.jsonl.zst");
        PrepareReport report = progress.getLast().getFinished();
        assertThat(report.getDocuments()).isEqualTo(60);
        assertThat(report.getNonEnglishDocuments()).isEqualTo(2);
        assertThat(report.getMalformedLines()).isEqualTo(2);
        assertThat(report.getInvalidUtf8Lines()).isEqualTo(2);
        assertThat(report.getValidationDocuments()).isEqualTo(6);
        assertThat(report.getTrainDocuments()).isEqualTo(54);
        assertThat(report.getTrainShards()).isEqualTo(2);
        assertThat(report.getTokenizer()).matches("trained \\(\\d+ ids\\)");
        // Progress went up to the whole archives' bytes.
        assertThat(progress.stream()
                        .filter(PrepareDatasetProgress::hasRunning)
                        .mapToLong(p -> p.getRunning().getArchiveBytesRead())
                        .max()
                        .orElse(0))
                .isLessThanOrEqualTo(progress.getFirst().getStarted().getArchiveBytes());

        Path folder = ROOT.resolve("corpora/openwebtext2");
        assertThat(CorpusDirectory.state(ROOT, "openwebtext2")).isEqualTo(CorpusDirectory.State.READY);
        CorpusDirectory corpus = CorpusDirectory.open(folder);
        assertThat(corpus.tokenizer().vocabSize()).isBetween(257, 400);
        DatasetInfo listed = listed("openwebtext2");
        assertThat(listed.getAvailable()).isTrue();
        assertThat(listed.getTrainShards()).isEqualTo(2);
        assertThat(listed.getTrainDocuments()).isEqualTo(54);
        assertThat(listed.getFilesList()).anyMatch(f -> f.getPath().equals("corpora/openwebtext2/tokenizer.json"));

        // Rank 1 of 2, from batch 3: the document buffer's own batches, with the corpus's tokenizer.
        StreamBatchesRequest request = StreamBatchesRequest.newBuilder()
                .setCorpus("openwebtext2")
                .setSeqLen(16)
                .setBatchSize(3)
                .setSeed(11)
                .setRank(1)
                .setWorldSize(2)
                .setShuffleBufferChunks(8)
                .setStartBatch(3)
                .setMaxBatches(4)
                .build();
        TokenStream direct =
                TokenStream.start(corpus.tokenizer(), corpus.stream(CorpusDirectory.Split.TRAIN, 16, 3, 8, 11, 1, 2));
        for (int skipped = 0; skipped < 3; skipped++) direct.nextBatch();
        List<TokenBatch> streamed = new ArrayList<>();
        data.streamBatches(request).forEachRemaining(streamed::add);
        assertThat(streamed).hasSize(4);
        for (TokenBatch batch : streamed) assertThat(ids(batch)).isEqualTo(flat(direct.nextBatch()));

        TokenStream validation = TokenStream.start(
                corpus.tokenizer(), corpus.stream(CorpusDirectory.Split.VALIDATION, 16, 2, 8, 11, 0, 1));
        TokenBatch first = data.streamBatches(request.toBuilder()
                        .setSplit(Split.SPLIT_VALIDATION)
                        .setBatchSize(2)
                        .setRank(0)
                        .setWorldSize(1)
                        .setStartBatch(0)
                        .setMaxBatches(1)
                        .build())
                .next();
        assertThat(ids(first)).isEqualTo(flat(validation.nextBatch()));

        assertStatus(
                Status.Code.ALREADY_EXISTS,
                "corpus 'openwebtext2' already exists",
                () -> data.prepareDataset(PrepareDatasetRequest.newBuilder()
                                .setSourceDir("raw")
                                .setCorpus("openwebtext2")
                                .build())
                        .next());
    }

    @Test
    void badSourcesAreRefusedNamingTheFieldAndLeaveNothingBehind() throws IOException {
        Path escaping = ROOT.resolve("escaping.tar");
        Path good = Files.createDirectories(ROOT.resolve("good"));
        writeArchive(good.resolve("a.jsonl.zst"), 0, 3);
        try (TarArchiveOutputStream out = new TarArchiveOutputStream(Files.newOutputStream(escaping))) {
            TarArchiveEntry entry = new TarArchiveEntry("../outside/a.jsonl.zst", true);
            entry.setSize(Files.size(good.resolve("a.jsonl.zst")));
            out.putArchiveEntry(entry);
            Files.copy(good.resolve("a.jsonl.zst"), out);
            out.closeArchiveEntry();
        }
        assertInvalid(
                "source_dir holds the tar entry '../outside/a.jsonl.zst', a path outside the archive's folder",
                prepare("escaping.tar", "bad"));

        Path plain = Files.createDirectories(ROOT.resolve("plain"));
        Files.writeString(plain.resolve("2020-01.jsonl.zst"), "{\"meta\":{\"lang\":\"en\"},\"text\":\"plain\"}\n");
        assertInvalid("source_dir holds '2020-01.jsonl.zst', which is not zstd-compressed", prepare("plain", "bad"));

        Files.createDirectories(ROOT.resolve("none"));
        assertInvalid("source_dir holds no *.jsonl.zst archives", prepare("none", "bad"));

        Path german = Files.createDirectories(ROOT.resolve("german"));
        try (OutputStream out = new ZstdOutputStream(Files.newOutputStream(german.resolve("de.jsonl.zst")))) {
            out.write("{\"meta\":{\"lang\":\"de\"},\"text\":\"Nur Deutsch.\"}\n".getBytes(StandardCharsets.UTF_8));
        }
        assertInvalid("source_dir holds no English documents", prepare("german", "bad"));
        assertInvalid(
                "validation_documents is too large: only 3 English documents",
                () -> data.prepareDataset(PrepareDatasetRequest.newBuilder()
                                .setSourceDir("good")
                                .setCorpus("bad")
                                .setValidationDocuments(3)
                                .setTrainShards(1)
                                .build())
                        .forEachRemaining(p -> {}));

        assertThat(CorpusDirectory.state(ROOT, "bad")).isEqualTo(CorpusDirectory.State.ABSENT);
        try (Stream<Path> corpora = Files.list(Files.createDirectories(ROOT.resolve("corpora")))) {
            assertThat(corpora.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith("."));
        }
        assertThat(ROOT.resolve("outside")).doesNotExist();
    }

    /** One's own text registered as a corpus: every document kept, split as OWT2's, a bad line refused naming it. */
    @Test
    void plainTextAndJsonlFilesRegisterAsACorpus() throws IOException {
        Path own = Files.createDirectories(ROOT.resolve("own"));
        List<String> jsonl = new ArrayList<>();
        for (int d = 0; d < 12; d++) jsonl.add("{\"text\": \"Note " + d + " on the harbour and its boats.\"}");
        Files.write(own.resolve("a.jsonl"), jsonl);
        Files.writeString(own.resolve("b.txt"), "First letter about the mill.\n\nSecond letter, about the river.\n");
        Files.writeString(own.resolve("ignored.md"), "# not read");

        List<PrepareDatasetProgress> progress = new ArrayList<>();
        data.prepareDataset(PrepareDatasetRequest.newBuilder()
                        .setSourceDir("own")
                        .setCorpus("letters")
                        .setSourceFormat(SourceFormat.SOURCE_FORMAT_DOCUMENTS)
                        .setValidationDocuments(2)
                        .setTrainShards(2)
                        .setTokenizerVocabSize(300)
                        .build())
                .forEachRemaining(progress::add);
        assertThat(progress.getFirst().getStarted().getArchivesList()).containsExactly("own/a.jsonl", "own/b.txt");
        PrepareReport report = progress.getLast().getFinished();
        assertThat(report.getDocuments()).isEqualTo(14);
        assertThat(report.getTrainDocuments()).isEqualTo(12);
        CorpusDirectory corpus = CorpusDirectory.open(ROOT.resolve("corpora/letters"));
        assertThat(corpus.manifest()).isEqualTo(new CorpusDirectory.Manifest("documents", 2, 12, 2));
        List<String> all = new ArrayList<>();
        for (Path shard : List.of(
                CorpusDirectory.validationFile(corpus.folder()),
                CorpusDirectory.trainFile(corpus.folder(), 0),
                CorpusDirectory.trainFile(corpus.folder(), 1)))
            for (String line : Files.readAllLines(shard)) all.add(JSON.readValue(line, String.class));
        assertThat(all)
                .hasSize(14)
                .contains("Note 11 on the harbour and its boats.", "Second letter, about the river.");

        Files.writeString(own.resolve("c.jsonl"), "{\"text\": \"fine\"}\n{\"title\": \"no text\"}\n");
        assertInvalid(
                "source_dir own/c.jsonl line 2 has no \"text\" field",
                () -> data.prepareDataset(PrepareDatasetRequest.newBuilder()
                                .setSourceDir("own")
                                .setCorpus("letters2")
                                .setSourceFormat(SourceFormat.SOURCE_FORMAT_DOCUMENTS)
                                .setValidationDocuments(1)
                                .setTrainShards(1)
                                .build())
                        .forEachRemaining(p -> {}));
        assertThat(CorpusDirectory.state(ROOT, "letters2")).isEqualTo(CorpusDirectory.State.ABSENT);
    }

    @Test
    void aCorpusBeingPreparedIsListedAsSuchAndNotStreamed() throws IOException {
        Path building = CorpusDirectory.buildingFolder(ROOT, "half");
        try {
            assertThat(listed("half").getPreparing()).isTrue();
            assertThat(listed("half").getAvailable()).isFalse();
            assertStatus(
                    Status.Code.FAILED_PRECONDITION,
                    "corpus 'half' is still being prepared",
                    () -> data.streamBatches(StreamBatchesRequest.newBuilder()
                                    .setCorpus("half")
                                    .setSeqLen(8)
                                    .setBatchSize(1)
                                    .setWorldSize(1)
                                    .build())
                            .next());
        } finally {
            Files.delete(building);
        }
    }

    private Executable prepare(String source, String corpus) {
        return () -> data.prepareDataset(PrepareDatasetRequest.newBuilder()
                        .setSourceDir(source)
                        .setCorpus(corpus)
                        .setValidationDocuments(1)
                        .setTrainShards(1)
                        .build())
                .forEachRemaining(p -> {});
    }

    private DatasetInfo listed(String name) {
        return data.listDatasets(ListDatasetsRequest.getDefaultInstance()).getDatasetsList().stream()
                .filter(d -> d.getName().equals(name))
                .findFirst()
                .orElseThrow();
    }

    private static void assertInvalid(String descriptionStart, Executable call) {
        assertStatus(Status.Code.INVALID_ARGUMENT, descriptionStart, call);
    }

    private static void assertStatus(Status.Code code, String descriptionStart, Executable call) {
        StatusRuntimeException refusal = assertThrows(StatusRuntimeException.class, call);
        assertThat(refusal.getStatus().getCode()).isEqualTo(code);
        assertThat(refusal.getStatus().getDescription()).startsWith(descriptionStart);
    }

    private static List<Integer> ids(TokenBatch batch) {
        return batch.getTokensList();
    }

    private static List<Integer> flat(int[][] rows) {
        List<Integer> ids = new ArrayList<>();
        for (int[] row : rows) for (int id : row) ids.add(id);
        return ids;
    }

    /** English documents {@code first..first+count-1} of varied text, a German one, a broken line, a non-UTF-8 line. */
    static void writeArchive(Path archive, int first, int count) throws IOException {
        StringBuilder lines = new StringBuilder();
        String[] topics = {"diffusion models", "river boats", "the stock market", "mountain weather", "old maps"};
        for (int d = first; d < first + count; d++)
            lines.append("{\"meta\":{\"lang\":\"en\"},\"text\":[\"Document ")
                    .append(d)
                    .append(" is about ")
                    .append(topics[d % topics.length])
                    .append(".\",\"Its second paragraph counts to ")
                    .append(d * 7)
                    .append(" and says more about ")
                    .append(topics[(d * 3) % topics.length])
                    .append(".\"]}\n");
        lines.append("{\"meta\":{\"lang\":\"de\"},\"text\":\"Ein deutsches Dokument.\"}\n");
        lines.append("{\"text\":\"no language\"}\n");
        try (OutputStream out = new ZstdOutputStream(Files.newOutputStream(archive))) {
            out.write(lines.toString().getBytes(StandardCharsets.UTF_8));
            out.write(new byte[] {'{', (byte) 0xC3, '}', '\n'});
        }
    }

    static void writeTar(Path tar, Path folder, String... names) throws IOException {
        try (TarArchiveOutputStream out = new TarArchiveOutputStream(Files.newOutputStream(tar))) {
            for (String name : names) {
                out.putArchiveEntry(out.createArchiveEntry(folder.resolve(name), name));
                Files.copy(folder.resolve(name), out);
                out.closeArchiveEntry();
            }
        }
    }
}

package plaid.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.github.luben.zstd.ZstdOutputStream;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
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
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import plaid.service.LoopbackChannels;
import plaid.v1.DataServiceGrpc;
import plaid.v1.DatasetInfo;
import plaid.v1.DatasetKind;
import plaid.v1.DetokenizeRequest;
import plaid.v1.ListDatasetsRequest;
import plaid.v1.PrepareDatasetProgress;
import plaid.v1.PrepareDatasetRequest;
import plaid.v1.PrepareReport;
import plaid.v1.StreamBatchesRequest;
import plaid.v1.TokenBatch;
import plaid.v1.TokenizeRequest;
import plaid.v1.TokenizeResponse;

/** The data service over a real gRPC channel on loopback. */
@QuarkusTest
@TestProfile(DataServiceTestProfile.class)
class DataGrpcServiceTest {
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
    void healthCheckSaysServing() {
        assertThat(LoopbackChannels.health(channel)).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    }

    @Test
    void reflectionListsTheServices() throws Exception {
        assertThat(LoopbackChannels.reflectedServices(channel))
                .contains("plaid.v1.DataService", "grpc.health.v1.Health");
    }

    @Test
    void tokenizeThenDetokenizeGivesTheTextsBack() {
        assumeTokenizer();
        List<String> texts = List.of("Hello, world!", "  Plaid diffuses\nembeddings — ünïcödé 😀", "");
        TokenizeResponse tokens =
                data.tokenize(TokenizeRequest.newBuilder().addAllTexts(texts).build());
        assertThat(tokens.getVocabSize()).isEqualTo(32768);
        assertThat(tokens.getSequences(0).getIdsCount()).isPositive();
        assertThat(tokens.getSequences(2).getIdsCount()).isZero();
        assertThat(data.detokenize(DetokenizeRequest.newBuilder()
                                .addAllSequences(tokens.getSequencesList())
                                .build())
                        .getTextsList())
                .isEqualTo(texts);
    }

    @Test
    void badRequestsAreRefusedNamingTheField() {
        assertInvalid("texts", () -> data.tokenize(TokenizeRequest.getDefaultInstance()));
        assertInvalid(
                "texts",
                () -> data.tokenize(TokenizeRequest.newBuilder()
                        .addAllTexts(Collections.nCopies(1025, "a"))
                        .build()));
        assertInvalid("sequences", () -> data.detokenize(DetokenizeRequest.getDefaultInstance()));
        StreamBatchesRequest valid = StreamBatchesRequest.newBuilder()
                .setCorpus("any")
                .setSeqLen(8)
                .setBatchSize(2)
                .setWorldSize(1)
                .build();
        assertInvalid(
                "seq_len",
                () -> data.streamBatches(valid.toBuilder().setSeqLen(1).build()).next());
        assertInvalid(
                "batch_size",
                () -> data.streamBatches(valid.toBuilder().setBatchSize(0).build())
                        .next());
        assertInvalid(
                "rank",
                () -> data.streamBatches(valid.toBuilder().setRank(1).build()).next());
        assertInvalid(
                "corpus",
                () -> data.streamBatches(valid.toBuilder().setCorpus("../x").build())
                        .next());
    }

    @Test
    void unknownCorpusIsNotFound() {
        StatusRuntimeException refusal = assertThrows(
                StatusRuntimeException.class,
                () -> data.streamBatches(StreamBatchesRequest.newBuilder()
                                .setCorpus("no-such-corpus")
                                .setSeqLen(8)
                                .setBatchSize(1)
                                .setWorldSize(1)
                                .build())
                        .next());
        assertThat(refusal.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    }

    @Test
    void pathsOutsideTheDataRootAreRefused() {
        for (String escape : List.of("../", "a/../../etc", "/tmp", DataServiceTestProfile.DATA_ROOT.toString()))
            assertInvalid(
                    "source_dir",
                    () -> data.prepareDataset(PrepareDatasetRequest.newBuilder()
                                    .setSourceDir(escape)
                                    .setCorpus("c")
                                    .build())
                            .next());
    }

    @Test
    void preparedCorpusIsListedAndStreamsReproducibleResumableBatches() throws IOException {
        assumeTokenizer();
        writeArchive(DataServiceTestProfile.DATA_ROOT.resolve("owt2-raw/2019-01.jsonl.zst"), 40);

        List<PrepareDatasetProgress> progress = new ArrayList<>();
        data.prepareDataset(PrepareDatasetRequest.newBuilder()
                        .setSourceDir("owt2-raw")
                        .setCorpus("tiny")
                        .setValidationDocuments(4)
                        .setTrainShards(2)
                        .build())
                .forEachRemaining(progress::add);
        assertThat(progress.getFirst().getStarted().getArchivesList()).containsExactly("2019-01.jsonl.zst");
        PrepareReport report = progress.getLast().getFinished();
        assertThat(report.getDocuments()).isEqualTo(40);
        assertThat(report.getMalformedLines()).isEqualTo(2);
        assertThat(report.getNonEnglishDocuments()).isEqualTo(1);
        assertThat(report.getTrainDocuments()).isEqualTo(36);
        // The corpus carries the service's tokenizer, which every reader of the corpus uses.
        assertThat(report.getTokenizer()).isEqualTo("data-svc.tokenizer");
        assertThat(DataServiceTestProfile.DATA_ROOT.resolve("corpora/tiny/tokenizer.json"))
                .hasSameBinaryContentAs(DataServiceTestProfile.TOKENIZER);

        DatasetInfo tiny = data.listDatasets(ListDatasetsRequest.getDefaultInstance()).getDatasetsList().stream()
                .filter(d -> d.getName().equals("tiny"))
                .findFirst()
                .orElseThrow();
        assertThat(tiny.getKind()).isEqualTo(DatasetKind.DATASET_KIND_TRAINING_CORPUS);
        assertThat(tiny.getAvailable()).isTrue();
        assertThat(tiny.getTrainShards()).isEqualTo(2);

        StreamBatchesRequest request = StreamBatchesRequest.newBuilder()
                .setCorpus("tiny")
                .setSeqLen(16)
                .setBatchSize(3)
                .setSeed(7)
                .setRank(1)
                .setWorldSize(2)
                .setMaxBatches(4)
                .build();
        List<TokenBatch> first = batches(request);
        assertThat(first).hasSize(4);
        for (int i = 0; i < first.size(); i++) {
            assertThat(first.get(i).getIndex()).isEqualTo(i);
            assertThat(first.get(i).getTokensCount()).isEqualTo(3 * 16);
        }
        assertThat(batches(request)).isEqualTo(first);
        assertThat(batches(request.toBuilder().setStartBatch(2).setMaxBatches(2).build()))
                .isEqualTo(first.subList(2, 4));
        assertThat(batches(request.toBuilder().setSeed(8).build())).isNotEqualTo(first);
    }

    private List<TokenBatch> batches(StreamBatchesRequest request) {
        List<TokenBatch> batches = new ArrayList<>();
        data.streamBatches(request).forEachRemaining(batches::add);
        return batches;
    }

    /** {@code documents} English documents, one German, a line that is not JSON and one without meta.lang. */
    private static void writeArchive(Path archive, int documents) throws IOException {
        Files.createDirectories(archive.getParent());
        StringBuilder lines = new StringBuilder();
        for (int d = 0; d < documents; d++)
            lines.append("{\"meta\":{\"lang\":\"en\"},\"text\":[\"Document ")
                    .append(d)
                    .append(" talks about diffusion models.\",\"It has a second paragraph, number ")
                    .append(d * 7)
                    .append(".\"]}\n");
        lines.append("{\"meta\":{\"lang\":\"de\"},\"text\":\"Ein deutsches Dokument.\"}\n");
        lines.append("this line is not JSON\n");
        lines.append("{\"text\":\"no language\"}\n");
        try (OutputStream out = new ZstdOutputStream(Files.newOutputStream(archive))) {
            out.write(lines.toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    private static void assertInvalid(String field, Executable call) {
        StatusRuntimeException refusal = assertThrows(StatusRuntimeException.class, call);
        assertThat(refusal.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(refusal.getStatus().getDescription()).startsWith(field + " ");
    }

    private static void assumeTokenizer() {
        assumeTrue(
                Files.isRegularFile(DataServiceTestProfile.TOKENIZER),
                "no OWT2 tokenizer at " + DataServiceTestProfile.TOKENIZER);
    }
}

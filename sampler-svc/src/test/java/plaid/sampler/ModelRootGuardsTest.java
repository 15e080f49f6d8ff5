package plaid.sampler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import plaid.model.CheckpointDirectory;
import plaid.service.LoopbackChannels;
import plaid.service.RawRequests;
import plaid.v1.GenerateRequest;
import plaid.v1.Guidance;
import plaid.v1.ListModelsRequest;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelInfo;
import plaid.v1.Prefix;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.TextOrTokens;
import plaid.v1.UnloadModelRequest;

/**
 * What a hostile model root or request cannot do: load through links that lead out of the
 * root, read an outside file into an error message, inflate a decompression bomb, or get
 * INTERNAL for a string that is not UTF-8; and UnloadModel frees a name.
 */
@QuarkusTest
@TestProfile(SamplerServiceTestProfile.class)
class ModelRootGuardsTest {
    private static final Path MODEL_ROOT = SamplerServiceTestProfile.MODEL_ROOT;
    /** What outside files hold: no reply may quote it. */
    private static final String SECRET = "hunter2-swordfish";

    private static Path outside;

    @TestHTTPResource("/")
    URI server;

    @Inject
    ModelRoot root;

    @Inject
    SamplerServiceConfig config;

    private ManagedChannel channel;
    private SamplerServiceGrpc.SamplerServiceBlockingStub sampler;

    @BeforeAll
    static void writeFolders() throws IOException {
        outside = Files.createTempDirectory("plaid-outside-the-model-root");
        Files.writeString(outside.resolve("secret.txt"), SECRET + " more secrets\n");
        TinyModelDirectory.writeUntrained(outside.resolve("model"));
        Path base = MODEL_ROOT.resolve("guard-base");
        if (Files.isDirectory(base)) return;
        TinyModelDirectory.writeUntrained(base);

        TinyModelDirectory.writeUntrained(MODEL_ROOT.resolve("guard-steps/step-1"));
        Files.createSymbolicLink(MODEL_ROOT.resolve("guard-steps/step-5"), outside.resolve("model"));
        for (String file : new String[] {CheckpointDirectory.CONFIG_FILE, CheckpointDirectory.TOKENIZER_FILE}) {
            Path dir = MODEL_ROOT.resolve("guard-link-" + file.replace(".json", ""));
            TinyModelDirectory.writeUntrained(dir);
            Files.delete(dir.resolve(file));
            Files.createSymbolicLink(dir.resolve(file), outside.resolve("secret.txt"));
        }
        TinyModelDirectory.writeUntrained(MODEL_ROOT.resolve("guard-not-json"));
        Files.writeString(MODEL_ROOT.resolve("guard-not-json").resolve(CheckpointDirectory.CONFIG_FILE), SECRET + " {");
        TinyModelDirectory.writeUntrained(MODEL_ROOT.resolve("guard-bomb"));
        writePickleBomb(MODEL_ROOT.resolve("guard-bomb/model.pt"));
        Files.delete(MODEL_ROOT.resolve("guard-bomb/model.safetensors"));
    }

    /** A torch.save zip whose data.pkl is 256 MiB of zeros, about 256 KB on disk. */
    private static void writePickleBomb(Path file) throws IOException {
        try (OutputStream out = Files.newOutputStream(file);
                ZipOutputStream zip = new ZipOutputStream(out)) {
            zip.putNextEntry(new ZipEntry("model/data.pkl"));
            byte[] zeros = new byte[1 << 20];
            for (int i = 0; i < 256; i++) zip.write(zeros);
            zip.closeEntry();
        }
    }

    @BeforeEach
    void connect() {
        channel = LoopbackChannels.open(server);
        sampler = SamplerServiceGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void disconnect() {
        channel.shutdownNow();
    }

    @Test
    void aStepFolderLinkedOutsideTheRootIsRefused() {
        assertRefusedQuietly(
                Status.Code.INVALID_ARGUMENT,
                "checkpoint",
                "guard-steps/step-5 leads outside the root through a link",
                load("guard-steps"));
    }

    @Test
    void configAndTokenizerLinkedOutsideAreRefusedWithoutQuotingThem() {
        assertRefusedQuietly(
                Status.Code.INVALID_ARGUMENT,
                "checkpoint",
                "guard-link-config/config.json leads outside the root through a link",
                load("guard-link-config"));
        assertRefusedQuietly(
                Status.Code.INVALID_ARGUMENT,
                "checkpoint",
                "guard-link-tokenizer/tokenizer.json leads outside the root through a link",
                load("guard-link-tokenizer"));
    }

    @Test
    void aConfigThatIsNotJsonIsRefusedWithoutQuotingIt() {
        assertRefusedQuietly(
                Status.Code.INVALID_ARGUMENT,
                "checkpoint",
                "guard-not-json/config.json is not JSON (line 1",
                load("guard-not-json"));
    }

    @Test
    void aDecompressionBombIsRefusedBeforeItInflates() {
        assertRefusedQuietly(
                Status.Code.FAILED_PRECONDITION,
                "cannot read checkpoint",
                "guard-bomb/model.pt: zip entry model/data.pkl declares 268435456 bytes",
                load("guard-bomb"));
    }

    @Test
    void unloadFreesTheNameAndAnUnknownNameIsNotFound() {
        ModelInfo loaded = sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("unload-me")
                .setCheckpoint("guard-base")
                .build());
        assertThat(sampler.unloadModel(UnloadModelRequest.newBuilder()
                                .setName("unload-me")
                                .build())
                        .getModel())
                .isEqualTo(loaded);
        assertThat(sampler.listModels(ListModelsRequest.getDefaultInstance()).getModelsList())
                .map(ModelInfo::getName)
                .doesNotContain("unload-me");
        assertRefused(
                Status.Code.NOT_FOUND,
                "name 'unload-me' is not a loaded model",
                () -> sampler.unloadModel(
                        UnloadModelRequest.newBuilder().setName("unload-me").build()));
        assertRefused(
                Status.Code.NOT_FOUND,
                "model 'unload-me' is not a loaded model",
                () -> sampler.generate(GenerateRequest.newBuilder()
                                .setModel("unload-me")
                                .setSamples(1)
                                .setSteps(1)
                                .build())
                        .next());
        // The name is free again, for another checkpoint too.
        sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("unload-me")
                .setCheckpoint("guard-steps/step-1")
                .build());
        sampler.unloadModel(UnloadModelRequest.newBuilder().setName("unload-me").build());
    }

    @Test
    void theIdlePolicyUnloadsOnlyModelsNoCallNamedForTheIdleTime() throws InterruptedException {
        // A registry of its own, so the service's models (other tests') are left alone.
        ModelRegistry registry = new ModelRegistry(root, config);
        registry.load(LoadModelRequest.newBuilder()
                .setName("unused")
                .setCheckpoint("guard-base")
                .build());
        registry.load(LoadModelRequest.newBuilder()
                .setName("used")
                .setCheckpoint("guard-base")
                .build());
        Thread.sleep(20);
        long between = System.nanoTime();
        registry.get("used", "model");
        registry.unloadIdle(System.nanoTime(), System.nanoTime() - between);
        assertThat(registry.list()).map(LoadedModel::name).containsExactly("used");
    }

    @Test
    void invalidUtf8InAStringFieldIsRefusedNamingTheField() {
        byte[] loadModel = RawRequests.fields(LoadModelRequest.NAME_FIELD_NUMBER, RawRequests.invalidUtf8());
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "name is not valid UTF-8",
                () -> RawRequests.unary(channel, SamplerServiceGrpc.getLoadModelMethod(), loadModel));

        byte[] text = RawRequests.fields(TextOrTokens.TEXT_FIELD_NUMBER, RawRequests.invalidUtf8());
        byte[] guidance =
                RawRequests.fields(Guidance.PREFIX_FIELD_NUMBER, RawRequests.fields(Prefix.TEXT_FIELD_NUMBER, text));
        byte[] generate = RawRequests.fields(
                GenerateRequest.MODEL_FIELD_NUMBER, "tiny".getBytes(), GenerateRequest.GUIDANCE_FIELD_NUMBER, guidance);
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "guidance.prefix.text.text is not valid UTF-8",
                () -> RawRequests.firstStreamed(channel, SamplerServiceGrpc.getGenerateMethod(), generate));

        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "request is not a valid plaid.v1.LoadModelRequest message",
                () -> RawRequests.unary(
                        channel, SamplerServiceGrpc.getLoadModelMethod(), new byte[] {(byte) 0xFF, (byte) 0xFF}));
        // The service still answers well-formed calls.
        assertThat(sampler.listModels(ListModelsRequest.getDefaultInstance())).isNotNull();
    }

    private Executable load(String checkpoint) {
        return () -> sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("guarded")
                .setCheckpoint(checkpoint)
                .build());
    }

    /** The refusal starts with {@code start}, says {@code problem}, and names no server path and no outside file's contents. */
    private static void assertRefusedQuietly(Status.Code code, String start, String problem, Executable call) {
        StatusRuntimeException refusal = assertThrows(StatusRuntimeException.class, call);
        assertThat(refusal.getStatus().getCode())
                .as(refusal.getStatus().toString())
                .isEqualTo(code);
        assertThat(refusal.getStatus().getDescription())
                .startsWith(start)
                .contains(problem)
                .doesNotContain(SECRET, MODEL_ROOT.toString(), outside.toString());
    }

    private static void assertRefused(Status.Code code, String description, Executable call) {
        StatusRuntimeException refusal = assertThrows(StatusRuntimeException.class, call);
        assertThat(refusal.getStatus().getCode())
                .as(refusal.getStatus().toString())
                .isEqualTo(code);
        assertThat(refusal.getStatus().getDescription()).startsWith(description);
    }
}

package plaid.sampler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import plaid.service.LoopbackChannels;
import plaid.text.BpeTokenizer;
import plaid.v1.AllPositions;
import plaid.v1.AnyPosition;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateRequest;
import plaid.v1.GeneratedTexts;
import plaid.v1.Guidance;
import plaid.v1.GuidanceTerm;
import plaid.v1.Infill;
import plaid.v1.ListModelsRequest;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelInfo;
import plaid.v1.ModelShape;
import plaid.v1.Negation;
import plaid.v1.Prefix;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.ScoreRequest;
import plaid.v1.ScoreResponse;
import plaid.v1.TextOrTokens;
import plaid.v1.TokenIds;

/** The sampler service over a real gRPC channel on loopback, with a tiny model trained for the run. */
@QuarkusTest
@TestProfile(SamplerServiceTestProfile.class)
class SamplerGrpcServiceTest {
    private static final Path MODEL_ROOT = SamplerServiceTestProfile.MODEL_ROOT;
    private static final GenerateRequest SMALL = GenerateRequest.newBuilder()
            .setModel("tiny")
            .setSamples(3)
            .setSeqLen(16)
            .setSteps(8)
            .setSeed(11)
            .build();
    private static final String TRAINER_CHECKPOINT = "run/checkpoints/step-" + TinyModelDirectory.TRAINED_STEPS;
    private static BpeTokenizer tokenizer;

    @TestHTTPResource("/")
    URI server;

    private ManagedChannel channel;
    private SamplerServiceGrpc.SamplerServiceBlockingStub sampler;

    @BeforeAll
    static synchronized void writeModels() throws IOException {
        Path tiny = MODEL_ROOT.resolve("tiny");
        if (Files.isDirectory(tiny)) return;
        tokenizer = TinyModelDirectory.write(tiny, MODEL_ROOT.resolve(TRAINER_CHECKPOINT));
        copyModel(tiny, MODEL_ROOT.resolve("tiny-copy"));
        copyModel(tiny, MODEL_ROOT.resolve("odd-heads"));
        Files.writeString(
                MODEL_ROOT.resolve("odd-heads/config.json"),
                Files.readString(tiny.resolve("config.json")).replace("\"n_heads\": 2", "\"n_heads\": 3"));
        copyModel(tiny, MODEL_ROOT.resolve("wide"));
        Files.writeString(
                MODEL_ROOT.resolve("wide/config.json"),
                Files.readString(tiny.resolve("config.json")).replace("\"dim\": 32", "\"dim\": 64"));
        Files.createDirectories(MODEL_ROOT.resolve("no-weights"));
        copyModel(tiny, MODEL_ROOT.resolve("no-config"));
        Files.delete(MODEL_ROOT.resolve("no-config/config.json"));
        // BoW_embedding keeps Plaid's head, so the same weights run in bow space
        copyModel(tiny, MODEL_ROOT.resolve("tiny-bow"));
        Files.writeString(
                MODEL_ROOT.resolve("tiny-bow/config.json"),
                Files.readString(tiny.resolve("config.json"))
                        .replace("{", "{\"diffusion_mode\": \"BoW_embedding\", \"BoW_cumsum_gamma\": 0.5, "));
        TinyModelDirectory.writeDoubleLogitReg(MODEL_ROOT.resolve("tiny-double"), tokenizer);
    }

    @BeforeEach
    void connect() {
        channel = LoopbackChannels.open(server);
        sampler = SamplerServiceGrpc.newBlockingStub(channel);
        sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("tiny")
                .setCheckpoint("tiny")
                .build());
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
    void loadedModelsAreListedAndNamesAreKept() {
        ModelInfo tiny = sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("tiny")
                .setCheckpoint("tiny")
                .build());
        assertThat(tiny.getVocabSize()).isEqualTo(tokenizer.vocabSize());
        assertThat(tiny.getMaxSeqLen()).isEqualTo(TinyModelDirectory.SEQ_LEN);
        assertThat(tiny.getDim()).isEqualTo(32);
        assertThat(tiny.getNBlocks()).isEqualTo(2);
        assertThat(tiny.getParameters()).isPositive();
        assertThat(tiny.getDevice()).isNotEmpty();
        assertThat(sampler.listModels(ListModelsRequest.getDefaultInstance()).getModelsList())
                .contains(tiny);

        ModelInfo shapeFromWeights = sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("no-config")
                .setCheckpoint("no-config")
                .build());
        assertThat(shapeFromWeights.toBuilder()
                        .clearName()
                        .clearCheckpoint()
                        .clearMaxSeqLen()
                        .clearLoadedAt()
                        .build())
                .isEqualTo(tiny.toBuilder()
                        .clearName()
                        .clearCheckpoint()
                        .clearMaxSeqLen()
                        .clearLoadedAt()
                        .build());
        assertThat(shapeFromWeights.getMaxSeqLen())
                .as("the original's default seq_len")
                .isEqualTo(256);

        assertRefused(
                Status.Code.ALREADY_EXISTS,
                "name",
                () -> sampler.loadModel(LoadModelRequest.newBuilder()
                        .setName("tiny")
                        .setCheckpoint("tiny-copy")
                        .build()));
        assertRefused(
                Status.Code.NOT_FOUND,
                "checkpoint",
                () -> sampler.loadModel(LoadModelRequest.newBuilder()
                        .setName("x")
                        .setCheckpoint("absent")
                        .build()));
        assertRefused(
                Status.Code.NOT_FOUND,
                "model",
                () -> sampler.generate(SMALL.toBuilder().setModel("absent").build())
                        .next());
        for (String escape : List.of("../", "tiny/../../x", "/tmp", MODEL_ROOT.toString()))
            assertInvalid(
                    "checkpoint",
                    () -> sampler.loadModel(LoadModelRequest.newBuilder()
                            .setName("x")
                            .setCheckpoint(escape)
                            .build()));
        for (String broken : List.of("odd-heads", "wide", "no-weights"))
            assertInvalid(
                    "checkpoint",
                    () -> sampler.loadModel(LoadModelRequest.newBuilder()
                            .setName("x")
                            .setCheckpoint(broken)
                            .build()));
        assertInvalid(
                "name",
                () -> sampler.loadModel(LoadModelRequest.newBuilder()
                        .setName("a/b")
                        .setCheckpoint("tiny")
                        .build()));
    }

    @Test
    void reflectionListsTheServices() throws Exception {
        assertThat(LoopbackChannels.reflectedServices(channel))
                .contains("plaid.v1.SamplerService", "grpc.health.v1.Health");
    }

    @Test
    void unconditionalGenerationStreamsProgressPartialDecodesThenTheTexts() {
        List<GenerateEvent> events = events(
                SMALL.toBuilder().setProgressEvery(2).setPartialDecodeEvery(4).build());
        assertThat(events)
                .map(e -> e.getEventCase().name()
                        + e.getProgress().getStep()
                        + e.getPartial().getStep())
                .containsExactly(
                        "PROGRESS20", "PROGRESS40", "PARTIAL04", "PROGRESS60", "PROGRESS80", "PARTIAL08", "RESULT00");
        assertThat(events.get(2).getPartial().getTokensList())
                .hasSize(3)
                .allSatisfy(ids -> assertThat(ids.getIdsList()).hasSize(16));
        assertThat(events.get(2).getPartial().getTextsList()).hasSize(3);
        assertThat(events.getFirst().getProgress().getSteps()).isEqualTo(8);
        GeneratedTexts result = events.getLast().getResult();
        assertThat(result.getTokensList())
                .hasSize(3)
                .allSatisfy(ids -> assertThat(ids.getIdsList())
                        .hasSize(16)
                        .allSatisfy(id -> assertThat(id).isBetween(0, tokenizer.vocabSize() - 1)));
        assertThat(result.getTextsList()).hasSize(3);
        for (int i = 0; i < 3; i++)
            assertThat(result.getTexts(i)).isEqualTo(tokenizer.decode(ids(result.getTokens(i)), false));
        assertThat(result(SMALL))
                .as("the same seed gives the same texts")
                .isEqualTo(result.toBuilder().setElapsedSeconds(0).build());
    }

    @Test
    void prefixGuidancePutsThePrefixTokensAtTheirPositions() {
        int[] prefix = tokenizer.encode("the cat sat");
        GeneratedTexts result = result(SMALL.toBuilder()
                .setGuidance(Guidance.newBuilder()
                        .setPrefix(
                                Prefix.newBuilder().setText(text("the cat sat")).setWeight(5)))
                .build());
        for (TokenIds sample : result.getTokensList()) assertThat(ids(sample)).startsWith(prefix);
    }

    @Test
    void infillGuidancePutsTheSuffixAfterTheGap() {
        int[] prefix = tokenizer.encode("the dog"), suffix = tokenizer.encode(" park");
        GeneratedTexts result = result(SMALL.toBuilder()
                .setGuidance(Guidance.newBuilder()
                        .setInfill(Infill.newBuilder()
                                .setPrefix(text("the dog"))
                                .setSuffix(text(" park"))
                                .setSuffixOffset(5)
                                .setWeight(5)))
                .build());
        for (TokenIds sample : result.getTokensList()) {
            int[] ids = ids(sample);
            assertThat(ids).startsWith(prefix);
            for (int k = 0; k < suffix.length; k++)
                assertThat(ids[prefix.length + 5 + k]).isEqualTo(suffix[k]);
        }
    }

    @Test
    void everyGuidanceFormSteersTheSamples() {
        GeneratedTexts unguided = result(SMALL);
        int mat = tokenizer.encode(" mat")[0];
        // log(1 - p) pulls only where p is large: steer away from a token the unguided run chose
        int chosen = unguided.getTokens(0).getIds(0);
        List<Guidance> forms = List.of(
                Guidance.newBuilder()
                        .addTerms(GuidanceTerm.newBuilder()
                                .setTarget(tokens(mat))
                                .setWeight(5)
                                .setAt(3))
                        .build(),
                Guidance.newBuilder()
                        .addTerms(GuidanceTerm.newBuilder()
                                .setTarget(text(" mat"))
                                .setWeight(5)
                                .setAny(AnyPosition.getDefaultInstance()))
                        .build(),
                Guidance.newBuilder()
                        .addTerms(GuidanceTerm.newBuilder()
                                .setTarget(tokens(mat))
                                .setWeight(5)
                                .setAll(AllPositions.getDefaultInstance()))
                        .build(),
                Guidance.newBuilder()
                        .addTerms(GuidanceTerm.newBuilder()
                                .setTarget(tokens(chosen))
                                .setWeight(200)
                                .setAt(0)
                                .setComplement(true))
                        .build(),
                Guidance.newBuilder()
                        .addNegations(
                                Negation.newBuilder().setText(tokens(chosen)).setWeight(200))
                        .build());
        for (Guidance guidance : forms) {
            GeneratedTexts guided =
                    result(SMALL.toBuilder().setGuidance(guidance).build());
            assertThat(guided.getTokensList())
                    .as(guidance.toString())
                    .hasSize(3)
                    .isNotEqualTo(unguided.getTokensList());
        }
        int[] placed = ids(
                result(SMALL.toBuilder().setGuidance(forms.getFirst()).build()).getTokens(0));
        assertThat(placed[3]).isEqualTo(mat);
    }

    @Test
    void scoresAreTheBoundPerTextAndDeterministicFromTheSeed() {
        String text = "the cat sat on a mat and the dog ran to the park.";
        ScoreRequest request = ScoreRequest.newBuilder()
                .setModel("tiny")
                .addTexts(text(text))
                .addTexts(tokens(tokenizer.encode("a dog slept.")))
                .setSeed(3)
                .setDraws(4)
                .build();
        ScoreResponse scores = sampler.score(request);
        assertThat(scores.getScoresList()).hasSize(2);
        assertThat(scores.getScores(0).getTokens()).isEqualTo(tokenizer.encode(text).length);
        for (var score : scores.getScoresList()) {
            assertThat(score.getNllPerToken()).isPositive().isFinite();
            assertThat(score.getNll())
                    .isCloseTo(score.getNllPerToken() * score.getTokens(), org.assertj.core.data.Offset.offset(1e-9));
        }
        assertThat(sampler.score(request)).isEqualTo(scores);
        assertThat(sampler.score(request.toBuilder().setSeed(4).build())).isNotEqualTo(scores);
        // A text longer than seq_len is scored on its first seq_len tokens, as those tokens given as ids.
        String longText = text.repeat(20);
        int[] first = java.util.Arrays.copyOf(tokenizer.encode(longText), TinyModelDirectory.SEQ_LEN);
        ScoreRequest cut = ScoreRequest.newBuilder()
                .setModel("tiny")
                .addTexts(text(longText))
                .addTexts(tokens(first))
                .setSeed(3)
                .setDraws(4)
                .build();
        ScoreResponse cutScores = sampler.score(cut);
        assertThat(cutScores.getScores(0).getTokens()).isEqualTo(TinyModelDirectory.SEQ_LEN);
        assertThat(cutScores.getScores(0)).isEqualTo(cutScores.getScores(1));
    }

    @Test
    void aTrainerCheckpointGivesItsLiveWeightsOrItsEmaWeights() {
        ScoreRequest request = ScoreRequest.newBuilder()
                .addTexts(text("the cat sat on a mat."))
                .setSeed(5)
                .setDraws(4)
                .build();
        ScoreResponse liveScores =
                sampler.score(request.toBuilder().setModel("tiny").build());
        sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("live")
                .setCheckpoint(TRAINER_CHECKPOINT)
                .build());
        sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("ema")
                .setCheckpoint(TRAINER_CHECKPOINT)
                .setUseEma(true)
                .build());
        assertThat(sampler.score(request.toBuilder().setModel("live").build())).isEqualTo(liveScores);
        assertThat(sampler.score(request.toBuilder().setModel("ema").build())).isNotEqualTo(liveScores);
    }

    @Test
    void badRequestsAreRefusedNamingTheField() {
        assertInvalid(
                "samples",
                () -> sampler.generate(SMALL.toBuilder()
                                .setSamples(SamplerServiceTestProfile.MAX_SAMPLES + 1)
                                .build())
                        .next());
        assertInvalid(
                "samples",
                () -> sampler.generate(SMALL.toBuilder().setSamples(-1).build()).next());
        assertInvalid(
                "samples",
                () -> sampler.generate(SMALL.toBuilder()
                                .setSamples(SamplerServiceTestProfile.MAX_SAMPLES)
                                .setSeqLen(TinyModelDirectory.SEQ_LEN)
                                .build())
                        .next());
        assertInvalid(
                "steps",
                () -> sampler.generate(
                                SMALL.toBuilder().setSteps(0).setSteps(-5).build())
                        .next());
        assertInvalid(
                "seq_len",
                () -> sampler.generate(SMALL.toBuilder()
                                .setSeqLen(TinyModelDirectory.SEQ_LEN + 1)
                                .build())
                        .next());
        assertInvalid(
                "steps",
                () -> sampler.generate(SMALL.toBuilder().setSteps(-1).build()).next());
        assertInvalid(
                "steps",
                () -> sampler.generate(SMALL.toBuilder()
                                .setSteps(SamplerServiceTestProfile.MAX_STEPS + 1)
                                .build())
                        .next());
        assertInvalid(
                "score_temp",
                () -> sampler.generate(SMALL.toBuilder().setScoreTemp(0).build())
                        .next());
        assertInvalid(
                "initial_noise_scale",
                () -> sampler.generate(
                                SMALL.toBuilder().setInitialNoiseScale(-1).build())
                        .next());
        assertInvalid(
                "partial_decode_every",
                () -> sampler.generate(
                                SMALL.toBuilder().setPartialDecodeEvery(-1).build())
                        .next());
        assertInvalid(
                "guidance.terms[0].at",
                () -> sampler.generate(guided(GuidanceTerm.newBuilder()
                                .setTarget(tokens(5))
                                .setWeight(1)
                                .setAt(16)))
                        .next());
        assertInvalid(
                "guidance.terms[0].at",
                () -> sampler.generate(guided(GuidanceTerm.newBuilder()
                                .setTarget(tokens(5, 6))
                                .setWeight(1)
                                .setAt(15)))
                        .next());
        assertInvalid(
                "guidance.terms[0].target.tokens.ids[1]",
                () -> sampler.generate(guided(GuidanceTerm.newBuilder()
                                .setTarget(tokens(5, tokenizer.vocabSize()))
                                .setWeight(1)
                                .setAt(0)))
                        .next());
        assertInvalid(
                "guidance.terms[0].target",
                () -> sampler.generate(
                                guided(GuidanceTerm.newBuilder().setWeight(1).setAt(0)))
                        .next());
        assertInvalid(
                "guidance.terms[0].position",
                () -> sampler.generate(guided(
                                GuidanceTerm.newBuilder().setTarget(tokens(5)).setWeight(1)))
                        .next());
        assertInvalid(
                "guidance.terms[0].weight",
                () -> sampler.generate(guided(GuidanceTerm.newBuilder()
                                .setTarget(tokens(5))
                                .setWeight(Double.NaN)
                                .setAt(0)))
                        .next());
        assertInvalid(
                "guidance.infill.suffix_offset",
                () -> sampler.generate(SMALL.toBuilder()
                                .setGuidance(Guidance.newBuilder()
                                        .setInfill(Infill.newBuilder()
                                                .setPrefix(tokens(1))
                                                .setSuffix(tokens(2))
                                                .setSuffixOffset(15)))
                                .build())
                        .next());
        assertInvalid(
                "guidance.prefix.text",
                () -> sampler.generate(SMALL.toBuilder()
                                .setGuidance(Guidance.newBuilder()
                                        .setPrefix(Prefix.newBuilder().setText(tokens(new int[17]))))
                                .build())
                        .next());
        assertInvalid(
                "texts",
                () -> sampler.score(ScoreRequest.newBuilder().setModel("tiny").build()));
        assertInvalid(
                "texts[0]",
                () -> sampler.score(ScoreRequest.newBuilder()
                        .setModel("tiny")
                        .addTexts(text(""))
                        .build()));
        assertInvalid(
                "texts[1].text",
                () -> sampler.score(ScoreRequest.newBuilder()
                        .setModel("tiny")
                        .addTexts(text("a"))
                        .addTexts(text("a".repeat(100_001)))
                        .build()));
        assertInvalid(
                "draws",
                () -> sampler.score(ScoreRequest.newBuilder()
                        .setModel("tiny")
                        .addTexts(text("a"))
                        .setDraws(SamplerServiceTestProfile.MAX_SCORE_DRAWS + 1)
                        .build()));
    }

    @Test
    void theOriginalsWeightsLoadAndGenerate() throws IOException {
        Path fixtures = Path.of(System.getProperty("plaid.fixtures", "absent")).resolve("sampler");
        boolean required = Boolean.getBoolean("plaid.fixtures.required");
        if (!required) assumeTrue(Files.isDirectory(fixtures), "no sampler fixtures at " + fixtures);
        List<Path> dirs;
        try (Stream<Path> list = Files.list(fixtures)) {
            dirs = list.filter(d -> Files.isRegularFile(d.resolve("config.json")))
                    .sorted()
                    .toList();
        }
        assertThat(dirs).isNotEmpty();
        for (Path dir : dirs) {
            String name = "original-" + dir.getFileName();
            copyModel(dir, MODEL_ROOT.resolve(name));
            ModelInfo info = sampler.loadModel(LoadModelRequest.newBuilder()
                    .setName(name)
                    .setCheckpoint(name)
                    .build());
            String config = Files.readString(dir.resolve("config.json"));
            assertThat(config).contains("\"vocab_size\": " + info.getVocabSize(), "\"dim\": " + info.getDim());
            GeneratedTexts result = result(GenerateRequest.newBuilder()
                    .setModel(name)
                    .setSamples(1)
                    .setSeqLen(16)
                    .setSteps(4)
                    .build());
            assertThat(result.getTokensList())
                    .singleElement()
                    .satisfies(ids -> assertThat(ids.getIdsList()).hasSize(16));
            assertThat(result.getTextsCount())
                    .isEqualTo(Files.isRegularFile(SamplerServiceTestProfile.OWT2_TOKENIZER) ? 1 : 0);
        }
    }

    @Test
    void theForksModeComesFromConfigJsonOrTheRequestsShape() {
        ModelInfo bow = sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("tiny-bow")
                .setCheckpoint("tiny-bow")
                .build());
        assertThat(bow.getDiffusionMode()).isEqualTo("BoW_embedding");
        assertThat(bow.getBowCumsumGamma()).isEqualTo(0.5);
        assertThat(result(SMALL.toBuilder().setModel("tiny-bow").build()).getTokensCount())
                .isEqualTo(3);
        assertThat(sampler.loadModel(LoadModelRequest.newBuilder()
                                .setName("tiny")
                                .setCheckpoint("tiny")
                                .build())
                        .getDiffusionMode())
                .isEqualTo("token");

        // weights without config.json take the shape options of the request, as sample.py's flags give them
        ModelInfo fromRequest = sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("no-config-bow")
                .setCheckpoint("no-config")
                .setShape(ModelShape.newBuilder()
                        .setSeqLen(TinyModelDirectory.SEQ_LEN)
                        .setDiffusionMode("BoW_embedding")
                        .setBowCumsumGamma(0.25))
                .build());
        assertThat(fromRequest.getDiffusionMode()).isEqualTo("BoW_embedding");
        assertThat(fromRequest.getBowCumsumGamma()).isEqualTo(0.25);
        assertThat(fromRequest.getMaxSeqLen()).isEqualTo(TinyModelDirectory.SEQ_LEN);

        assertInvalid(
                "shape.dim",
                () -> sampler.loadModel(LoadModelRequest.newBuilder()
                        .setName("tiny-wide")
                        .setCheckpoint("tiny")
                        .setShape(ModelShape.newBuilder().setDim(64))
                        .build()));
        assertInvalid(
                "shape.bow_cumsum_gamma",
                () -> sampler.loadModel(LoadModelRequest.newBuilder()
                        .setName("tiny-bow-0")
                        .setCheckpoint("tiny-bow")
                        .setShape(ModelShape.newBuilder().setBowCumsumGamma(0))
                        .build()));
        assertInvalid(
                "shape.bow_cumsum_gamma",
                () -> sampler.loadModel(LoadModelRequest.newBuilder()
                        .setName("no-gamma")
                        .setCheckpoint("no-config")
                        .setShape(ModelShape.newBuilder().setDiffusionMode("BoW_embedding"))
                        .build()));
        assertInvalid(
                "shape.diffusion_mode",
                () -> sampler.loadModel(LoadModelRequest.newBuilder()
                        .setName("bad-mode")
                        .setCheckpoint("no-config")
                        .setShape(ModelShape.newBuilder()
                                .setDiffusionMode("BoW_embeding")
                                .setBowCumsumGamma(0))
                        .build()));
    }

    @Test
    void secondaryLogitsNeedAModeThatHasThem() {
        assertInvalid(
                "use_secondary_logits",
                () -> events(SMALL.toBuilder().setUseSecondaryLogits(true).build()));

        ModelInfo twoHeads = sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("tiny-double")
                .setCheckpoint("tiny-double")
                .build());
        assertThat(twoHeads.getDiffusionMode()).isEqualTo("BoW_embedding_double_logit_reg");
        GenerateRequest primary = SMALL.toBuilder().setModel("tiny-double").build();
        GeneratedTexts secondary =
                result(primary.toBuilder().setUseSecondaryLogits(true).build());
        assertThat(secondary.getTokensCount()).isEqualTo(primary.getSamples());
        // the same trajectory read through the other head: other argmax tokens
        assertThat(secondary.getTokensList()).isNotEqualTo(result(primary).getTokensList());
    }

    @Test
    void aFolderOfTrainerCheckpointsLoadsItsNewest() {
        ModelInfo newest = sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("run-newest")
                .setCheckpoint("run/checkpoints")
                .build());
        ModelInfo direct = sampler.loadModel(LoadModelRequest.newBuilder()
                .setName("run-direct")
                .setCheckpoint(TRAINER_CHECKPOINT)
                .build());
        assertThat(newest.getParameters()).isEqualTo(direct.getParameters());
        assertThat(result(SMALL.toBuilder().setModel("run-newest").build()))
                .isEqualTo(result(SMALL.toBuilder().setModel("run-direct").build()));
    }

    private List<GenerateEvent> events(GenerateRequest request) {
        List<GenerateEvent> events = new ArrayList<>();
        sampler.generate(request).forEachRemaining(events::add);
        return events;
    }

    /** The final texts, with the timing cleared so that results compare. */
    private GeneratedTexts result(GenerateRequest request) {
        GenerateEvent last = events(request).getLast();
        assertThat(last.hasResult()).isTrue();
        return last.getResult().toBuilder().setElapsedSeconds(0).build();
    }

    private static GenerateRequest guided(GuidanceTerm.Builder term) {
        return SMALL.toBuilder()
                .setGuidance(Guidance.newBuilder().addTerms(term))
                .build();
    }

    /** A model directory into the model root, less a fixture's recorded trajectories. */
    static void copyModel(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path file : files.toList())
                if (!file.getFileName().toString().equals("trajectories.safetensors"))
                    Files.copy(file, to.resolve(file.getFileName()));
        }
    }

    private static TextOrTokens text(String text) {
        return TextOrTokens.newBuilder().setText(text).build();
    }

    private static TextOrTokens tokens(int... ids) {
        return TextOrTokens.newBuilder()
                .setTokens(TokenIds.newBuilder()
                        .addAllIds(java.util.Arrays.stream(ids).boxed().toList()))
                .build();
    }

    private static int[] ids(TokenIds tokens) {
        return tokens.getIdsList().stream().mapToInt(Integer::intValue).toArray();
    }

    static void assertInvalid(String field, Executable call) {
        assertRefused(Status.Code.INVALID_ARGUMENT, field, call);
    }

    static void assertRefused(Status.Code code, String field, Executable call) {
        StatusRuntimeException refusal = assertThrows(StatusRuntimeException.class, call);
        assertThat(refusal.getStatus().getCode())
                .as(refusal.getStatus().toString())
                .isEqualTo(code);
        assertThat(refusal.getStatus().getDescription()).startsWith(field + " ");
    }
}

package plaid.sampler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import io.grpc.ManagedChannel;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import plaid.service.LoopbackChannels;
import plaid.service.PrometheusScrape;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateRequest;
import plaid.v1.GeneratedTexts;
import plaid.v1.Guidance;
import plaid.v1.LoadModelRequest;
import plaid.v1.Prefix;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.TextOrTokens;

/** /v1/completions and /v1/models driven by the official OpenAI Java client, as a user's code would. */
@QuarkusTest
@TestProfile(SamplerServiceTestProfile.class)
class OpenAiCompletionsTest {
    private static final String PROMPT = "the cat sat";

    @TestHTTPResource("/")
    URI server;

    @Inject
    GenerationScheduler scheduler;

    private ManagedChannel channel;
    private OpenAIClient openai;

    @BeforeAll
    static void writeModels() throws IOException {
        SamplerGrpcServiceTest.writeModels();
    }

    @BeforeEach
    void connect() {
        channel = LoopbackChannels.open(server);
        SamplerServiceGrpc.newBlockingStub(channel)
                .loadModel(LoadModelRequest.newBuilder()
                        .setName("tiny")
                        .setCheckpoint("tiny")
                        .build());
        openai = OpenAIOkHttpClient.builder()
                .baseUrl(server.resolve("/v1").toString())
                .apiKey("unused")
                .maxRetries(0)
                .build();
    }

    @AfterEach
    void disconnect() {
        channel.shutdownNow();
        openai.close();
    }

    private static CompletionCreateParams.Builder params() {
        return CompletionCreateParams.builder()
                .model("tiny")
                .prompt(PROMPT)
                .n(2)
                .maxTokens(16)
                .seed(7)
                .temperature(0.8)
                .putAdditionalBodyProperty("steps", JsonValue.from(12))
                .putAdditionalBodyProperty("prompt_weight", JsonValue.from(5.0));
    }

    /** The same request through gRPC Generate. */
    private GeneratedTexts generate(int partialEvery, List<GenerateEvent> events) {
        GenerateRequest request = GenerateRequest.newBuilder()
                .setModel("tiny")
                .setSamples(2)
                .setSeqLen(16)
                .setSeed(7)
                .setScoreTemp(0.8)
                .setSteps(12)
                .setPartialDecodeEvery(partialEvery)
                .setGuidance(Guidance.newBuilder()
                        .setPrefix(Prefix.newBuilder()
                                .setText(TextOrTokens.newBuilder().setText(PROMPT))
                                .setWeight(5)))
                .build();
        SamplerServiceGrpc.newBlockingStub(channel).generate(request).forEachRemaining(events::add);
        return events.getLast().getResult();
    }

    @Test
    void modelsAreListed() {
        List<Model> models = openai.models().list().data();
        assertThat(models).extracting(Model::id).contains("tiny");
    }

    @Test
    void aCompletionIsGeneratesTextsWithUsage() {
        Completion completion = openai.completions().create(params().build());
        GeneratedTexts expected = generate(0, new ArrayList<>());
        assertThat(completion.choices()).hasSize(2);
        assertThat(completion.choices()).extracting(c -> c.text()).containsExactlyElementsOf(expected.getTextsList());
        assertThat(completion.choices().getFirst().text()).startsWith(PROMPT);
        assertThat(completion.model()).isEqualTo("tiny");
        var usage = completion.usage().orElseThrow();
        assertThat(usage.promptTokens()).isBetween(1L, 16L);
        assertThat(usage.completionTokens()).isEqualTo(2 * 16);
        assertThat(usage.totalTokens()).isEqualTo(usage.promptTokens() + 32);
    }

    @Test
    void aStreamCarriesPartialDecodesThenTheTexts() {
        List<Completion> chunks = new ArrayList<>();
        try (StreamResponse<Completion> stream = openai.completions()
                .createStreaming(params().putAdditionalBodyProperty("partial_decode_every", JsonValue.from(4))
                        .build())) {
            stream.stream().forEach(chunks::add);
        }
        List<GenerateEvent> events = new ArrayList<>();
        GeneratedTexts expected = generate(4, events);
        List<String> partials = events.stream()
                .filter(GenerateEvent::hasPartial)
                .flatMap(e -> e.getPartial().getTextsList().stream())
                .toList();
        assertThat(chunks).hasSize(4); // partial decodes at steps 4, 8, 12, then the texts
        assertThat(chunks.subList(0, 3))
                .flatExtracting(Completion::choices)
                .extracting(c -> c.text())
                .containsExactlyElementsOf(partials);
        assertThat(chunks.subList(0, 3))
                .flatExtracting(Completion::choices)
                .allSatisfy(c -> assertThat(c._finishReason().isNull()).isTrue());
        assertThat(chunks.getLast().choices())
                .extracting(c -> c.text())
                .containsExactlyElementsOf(expected.getTextsList());
        assertThat(chunks.getLast().choices())
                .allSatisfy(c -> assertThat(c.finishReason().asString()).isEqualTo("length"));
    }

    @Test
    void badRequestsAreRefusedNamingTheField() throws Exception {
        assertBad("n", params().n(0).build());
        assertBad("n", params().n(SamplerServiceTestProfile.MAX_SAMPLES + 1).build());
        assertBad(
                "max_tokens", params().maxTokens(TinyModelDirectory.SEQ_LEN + 1).build());
        assertBad("temperature", params().temperature(0.0).build());
        assertBad(
                "steps",
                params().putAdditionalBodyProperty("steps", JsonValue.from(0)).build());
        assertBad(
                "steps",
                params().putAdditionalBodyProperty("steps", JsonValue.from(SamplerServiceTestProfile.MAX_STEPS + 1))
                        .build());
        assertBad(
                "prompt", params().prompt("the cat sat on the mat ".repeat(10)).build());
        assertBad(
                "update",
                params().putAdditionalBodyProperty("update", JsonValue.from("euler"))
                        .build());
        assertBad(
                "stepz",
                params().putAdditionalBodyProperty("stepz", JsonValue.from(3)).build());
        assertBad("top_p", params().topP(0.5).build());
        assertBad(
                "guidance",
                params().putAdditionalBodyProperty("guidance", JsonValue.from("prefix"))
                        .build());
        NotFoundException unknown = assertThrows(
                NotFoundException.class,
                () -> openai.completions().create(params().model("absent").build()));
        assertThat(unknown.getMessage()).contains("model");

        HttpResponse<String> malformed = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(server.resolve("/v1/completions"))
                                .header("content-type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"tiny\", "))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(malformed.statusCode()).isEqualTo(400);
        assertThat(malformed.body()).contains("\"param\":\"body\"", "not valid JSON");
    }

    private void assertBad(String field, CompletionCreateParams params) {
        BadRequestException refusal = assertThrows(
                BadRequestException.class, () -> openai.completions().create(params));
        assertThat(refusal.statusCode()).isEqualTo(400);
        assertThat(refusal.body().toString()).as(field).contains("param=" + field);
    }

    @Test
    void aClientThatLeavesMidStreamFreesItsRows() throws Exception {
        double before = cancelled();
        try (StreamResponse<Completion> stream = openai.completions()
                .createStreaming(
                        params().putAdditionalBodyProperty("steps", JsonValue.from(SamplerServiceTestProfile.MAX_STEPS))
                                .putAdditionalBodyProperty("partial_decode_every", JsonValue.from(1))
                                .build())) {
            Iterator<Completion> chunks = stream.stream().iterator();
            assertThat(chunks.next().choices()).hasSize(2);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (scheduler.hasWork() && System.nanoTime() < deadline) Thread.sleep(5);
        assertThat(scheduler.hasWork()).as("the rows left the batch").isFalse();
        assertThat(cancelled()).isGreaterThan(before);
    }

    private double cancelled() throws Exception {
        Matcher line = Pattern.compile("(?m)^plaid_sampler_requests_finished_total\\{reason=\"cancelled\"} (\\S+)$")
                .matcher(PrometheusScrape.metrics(server));
        assertThat(line.find()).isTrue();
        return Double.parseDouble(line.group(1));
    }
}

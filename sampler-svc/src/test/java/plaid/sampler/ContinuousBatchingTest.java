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
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
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
import plaid.v1.Guidance;
import plaid.v1.GuidanceTerm;
import plaid.v1.LoadModelRequest;
import plaid.v1.Prefix;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.TextOrTokens;
import plaid.v1.TokenIds;
import plaid.v1.UpdateRule;

/** The engine over gRPC: requests joining and leaving a running batch, admission by rows, faults, metrics. */
@QuarkusTest
@TestProfile(SamplerServiceTestProfile.class)
class ContinuousBatchingTest {
    /**
     * A run that would last far longer than any test: only cancellation ends it. Its progress comes every 20 steps: an
     * event every step of the tiny model floods the stream faster than a loaded machine's event loop drains it.
     */
    private static final GenerateRequest ENDLESS = GenerateRequest.newBuilder()
            .setModel("tiny")
            .setSamples(1)
            .setSeqLen(8)
            .setSteps(SamplerServiceTestProfile.MAX_STEPS)
            .setProgressEvery(20)
            .build();

    @TestHTTPResource("/")
    URI server;

    @Inject
    GenerationScheduler scheduler;

    private ManagedChannel channel;
    private SamplerServiceGrpc.SamplerServiceBlockingStub sampler;

    @BeforeAll
    static void writeModels() throws IOException {
        SamplerGrpcServiceTest.writeModels();
    }

    @BeforeEach
    void connect() {
        channel = LoopbackChannels.open(server);
        sampler = SamplerServiceGrpc.newBlockingStub(channel);
        for (String name : List.of("tiny", "tiny-copy"))
            sampler.loadModel(LoadModelRequest.newBuilder()
                    .setName(name)
                    .setCheckpoint(name)
                    .build());
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow();
        awaitIdle();
    }

    @Test
    void requestsJoiningARunningBatchAtAnyStepGetWhatTheyWouldAlone() throws Exception {
        SplittableRandom random = new SplittableRandom(9);
        List<GenerateRequest> requests = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            GenerateRequest.Builder request = GenerateRequest.newBuilder()
                    .setModel("tiny")
                    .setSamples(1 + random.nextInt(2))
                    .setSeqLen(random.nextBoolean() ? 8 : 16)
                    .setSteps(4 + random.nextInt(30))
                    .setSeed(random.nextLong())
                    .setScoreTemp(0.6 + random.nextDouble())
                    .setPartialDecodeEvery(1 + random.nextInt(5))
                    .setProgressEvery(1 + random.nextInt(7))
                    .setUpdate(random.nextBoolean() ? UpdateRule.UPDATE_RULE_DDIM : UpdateRule.UPDATE_RULE_ANCESTRAL);
            if (i % 3 == 0)
                request.setGuidance(Guidance.newBuilder()
                        .setPrefix(Prefix.newBuilder().setText(tokens(5, 7)).setWeight(3)));
            if (i % 3 == 1)
                request.setGuidance(Guidance.newBuilder()
                        .addTerms(GuidanceTerm.newBuilder()
                                .setTarget(tokens(9))
                                .setWeight(2)
                                .setAny(plaid.v1.AnyPosition.getDefaultInstance())));
            requests.add(request.build());
        }
        List<List<GenerateEvent>> alone = new ArrayList<>();
        for (GenerateRequest request : requests) alone.add(events(request));
        long joinedBefore = scheduler.joinedRequests();

        StreamRecorder blocker = StreamRecorder.start(async(), ENDLESS);
        assertThat(blocker.nextEvent(30)).isNotNull();
        List<StreamRecorder> shared = new ArrayList<>();
        for (GenerateRequest request : requests) {
            shared.add(StreamRecorder.start(async(), request));
            Thread.sleep(random.nextInt(40));
        }
        for (int i = 0; i < requests.size(); i++) {
            assertThat(shared.get(i).awaitEnd(60).isOk()).isTrue();
            List<GenerateEvent> events = shared.get(i).events();
            assertThat(withoutTimes(events)).as("request %d", i).isEqualTo(withoutTimes(alone.get(i)));
        }
        assertThat(blocker.ended())
                .as("the long run goes on while the others join and leave")
                .isFalse();
        assertThat(scheduler.joinedRequests() - joinedBefore).isEqualTo(requests.size());
        blocker.cancel();
    }

    @Test
    void aJoiningRequestGetsItsFirstPartialWhileALongRunGoesOn() throws Exception {
        StreamRecorder blocker = StreamRecorder.start(async(), ENDLESS);
        assertThat(blocker.nextEvent(30)).isNotNull();
        StreamRecorder joining = StreamRecorder.start(
                async(),
                ENDLESS.toBuilder()
                        .setPartialDecodeEvery(1)
                        .setProgressEvery(1000)
                        .build());
        GenerateEvent first = joining.nextEvent(30);
        assertThat(first).isNotNull();
        assertThat(first.getPartial().getStep()).isEqualTo(1);
        assertThat(blocker.ended()).isFalse();
        blocker.cancel();
        joining.cancel();
    }

    @Test
    void admissionIsByRowsAndAFullQueueIsRefused() throws Exception {
        // 64 callers of one 1-token row each fit the budget together although the queue holds 2
        List<StreamRecorder> callers = new ArrayList<>();
        GenerateRequest oneRow = GenerateRequest.newBuilder()
                .setModel("tiny")
                .setSamples(1)
                .setSeqLen(1)
                .setSteps(20)
                .build();
        for (int i = 0; i < 64; i++) callers.add(StreamRecorder.start(async(), oneRow));
        for (StreamRecorder caller : callers)
            assertThat(caller.awaitEnd(60).getCode()).isEqualTo(Status.Code.OK);

        // a request over the budget waits; beyond the queue's capacity one is refused
        GenerateRequest wide = ENDLESS.toBuilder().setSamples(6).setSeqLen(16).build();
        StreamRecorder running = StreamRecorder.start(async(), wide);
        assertThat(running.nextEvent(30)).isNotNull();
        List<StreamRecorder> waiting = new ArrayList<>();
        for (int i = 0; i < SamplerServiceTestProfile.QUEUE_CAPACITY; i++)
            waiting.add(StreamRecorder.start(async(), ENDLESS));
        awaitWaiting(SamplerServiceTestProfile.QUEUE_CAPACITY);
        SamplerGrpcServiceTest.assertRefused(
                Status.Code.RESOURCE_EXHAUSTED,
                "the generation queue",
                () -> sampler.generate(ENDLESS).next());
        assertThat(waiting).noneMatch(StreamRecorder::ended);

        running.cancel();
        for (StreamRecorder call : waiting)
            assertThat(call.nextEvent(30))
                    .as("the waiting requests join once the rows are free")
                    .isNotNull();
        waiting.forEach(StreamRecorder::cancel);
    }

    @Test
    void cancellationAndDeadlinesAreSeenAtTheNextStep() throws Exception {
        String before = PrometheusScrape.metrics(server);
        // progress_every past the steps: no event would come, the cancellation is still seen at the next boundary
        StreamRecorder silent = StreamRecorder.start(
                async(),
                ENDLESS.toBuilder()
                        .setProgressEvery(SamplerServiceTestProfile.MAX_STEPS)
                        .build());
        awaitRunning(1);
        silent.cancel();
        awaitIdle();
        StatusRuntimeException expired = assertThrows(
                StatusRuntimeException.class,
                () -> sampler.withDeadlineAfter(300, TimeUnit.MILLISECONDS)
                        .generate(ENDLESS)
                        .forEachRemaining(event -> {}));
        assertThat(expired.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
        awaitIdle();
        String after = PrometheusScrape.metrics(server);
        assertThat(finished(after, "cancelled")).isGreaterThan(finished(before, "cancelled"));
        assertThat(finished(after, "deadline")).isGreaterThan(finished(before, "deadline"));
    }

    @Test
    void aDeviceErrorFailsOnlyTheRequestsOfThatBatchAndTheServiceGoesOn() throws Exception {
        StreamRecorder other = StreamRecorder.start(
                async(), ENDLESS.toBuilder().setModel("tiny-copy").build());
        StreamRecorder failing = StreamRecorder.start(async(), ENDLESS);
        assertThat(other.nextEvent(30)).isNotNull();
        assertThat(failing.nextEvent(30)).isNotNull();
        String before = PrometheusScrape.metrics(server);
        scheduler.failNextStep("tiny", new IllegalStateException("injected device fault"));
        Status status = failing.awaitEnd(30);
        assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
        assertThat(status.getDescription()).contains("generation failed", "injected device fault");
        other.events();
        assertThat(other.nextEvent(30)).as("the other model's batch runs on").isNotNull();
        assertThat(other.ended()).isFalse();
        assertThat(finished(PrometheusScrape.metrics(server), "error")).isGreaterThan(finished(before, "error"));
        other.cancel();
        assertThat(events(GenerateRequest.newBuilder()
                                .setModel("tiny")
                                .setSamples(1)
                                .setSeqLen(8)
                                .setSteps(3)
                                .build())
                        .getLast()
                        .hasResult())
                .as("the model serves again")
                .isTrue();
    }

    @Test
    void engineMetricsMove() throws Exception {
        String before = PrometheusScrape.metrics(server);
        StreamRecorder running = StreamRecorder.start(async(), ENDLESS);
        assertThat(running.nextEvent(30)).isNotNull();
        String during = PrometheusScrape.metrics(server);
        assertThat(PrometheusScrape.value(during, "plaid_sampler_requests_running"))
                .isEqualTo(1);
        assertThat(PrometheusScrape.value(during, "plaid_sampler_batch_rows")).isEqualTo(1);
        assertThat(PrometheusScrape.value(during, "plaid_sampler_steps_per_second"))
                .isPositive();
        assertThat(PrometheusScrape.value(during, "plaid_sampler_row_steps_per_second"))
                .isPositive();
        running.cancel();
        events(GenerateRequest.newBuilder()
                .setModel("tiny")
                .setSamples(2)
                .setSeqLen(8)
                .setSteps(5)
                .setPartialDecodeEvery(2)
                .build());
        awaitIdle();
        String after = PrometheusScrape.metrics(server);
        assertThat(PrometheusScrape.value(after, "plaid_sampler_requests_running"))
                .isZero();
        assertThat(PrometheusScrape.value(after, "plaid_sampler_requests_waiting"))
                .isZero();
        assertThat(finished(after, "done")).isEqualTo(finished(before, "done") + 1);
        for (String counter : List.of(
                "plaid_sampler_steps_total",
                "plaid_sampler_row_steps_total",
                "plaid_sampler_generate_requests_total",
                "plaid_sampler_request_queue_time_seconds_count",
                "plaid_sampler_time_to_first_partial_seconds_count",
                "plaid_sampler_e2e_request_latency_seconds_count"))
            assertThat(PrometheusScrape.value(after, counter))
                    .as(counter)
                    .isGreaterThan(PrometheusScrape.value(before, counter));
        assertThat(PrometheusScrape.value(after, "plaid_sampler_row_steps_total")
                        - PrometheusScrape.value(before, "plaid_sampler_row_steps_total"))
                .as("the 2-row request's 6 forwards")
                .isGreaterThanOrEqualTo(12);
        assertThat(after).contains("plaid_sampler_e2e_request_latency_seconds_bucket{le=");
    }

    private static double finished(String metrics, String reason) {
        Matcher line = Pattern.compile(
                        "(?m)^plaid_sampler_requests_finished_total\\{reason=\"" + reason + "\"} (\\S+)$")
                .matcher(metrics);
        if (!line.find()) throw new AssertionError("no finished requests series for " + reason);
        return Double.parseDouble(line.group(1));
    }

    private void awaitWaiting(int requests) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (scheduler.waiting() < requests && System.nanoTime() < deadline) Thread.sleep(5);
        assertThat(scheduler.waiting()).isEqualTo(requests);
    }

    private void awaitRunning(int requests) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (PrometheusScrape.value(PrometheusScrape.metrics(server), "plaid_sampler_requests_running") < requests
                && System.nanoTime() < deadline) Thread.sleep(5);
    }

    /** Until no request runs or waits: the engine has seen every cancellation. */
    private void awaitIdle() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (scheduler.hasWork() && System.nanoTime() < deadline) Thread.sleep(5);
        assertThat(scheduler.hasWork())
                .as("the engine has let every request go")
                .isFalse();
    }

    private SamplerServiceGrpc.SamplerServiceStub async() {
        return SamplerServiceGrpc.newStub(channel);
    }

    private List<GenerateEvent> events(GenerateRequest request) {
        List<GenerateEvent> events = new ArrayList<>();
        sampler.generate(request).forEachRemaining(events::add);
        return events;
    }

    /** The events with their timings cleared, so that runs compare. */
    private static List<GenerateEvent> withoutTimes(List<GenerateEvent> events) {
        return events.stream()
                .map(e -> switch (e.getEventCase()) {
                    case PROGRESS ->
                        e.toBuilder()
                                .setProgress(e.getProgress().toBuilder().setElapsedSeconds(0))
                                .build();
                    case RESULT ->
                        e.toBuilder()
                                .setResult(e.getResult().toBuilder().setElapsedSeconds(0))
                                .build();
                    default -> e;
                })
                .toList();
    }

    private static TextOrTokens tokens(int... ids) {
        return TextOrTokens.newBuilder()
                .setTokens(TokenIds.newBuilder()
                        .addAllIds(java.util.Arrays.stream(ids).boxed().toList()))
                .build();
    }
}

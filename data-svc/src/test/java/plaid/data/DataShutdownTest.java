package plaid.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.util.concurrent.ListenableFuture;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import plaid.service.LoopbackChannels;
import plaid.text.CorpusDirectory;
import plaid.v1.DataServiceGrpc;
import plaid.v1.StreamBatchesRequest;
import plaid.v1.TokenBatch;
import plaid.v1.TokenizeRequest;
import plaid.v1.TokenizeResponse;

/** Shutting down stops a Tokenize and a StreamBatches that are in flight within seconds, answering UNAVAILABLE. */
@QuarkusTest
@TestProfile(StoppingDataServiceTestProfile.class)
class DataShutdownTest {
    @TestHTTPResource("/")
    URI server;

    @Inject
    InFlightWork inFlight;

    private ManagedChannel channel;

    @AfterEach
    void disconnect() {
        if (channel != null) channel.shutdownNow();
    }

    @Test
    void inFlightCallsEndPromptlyWhenTheServiceStops() throws Exception {
        assumeTrue(
                Files.isRegularFile(DataServiceTestProfile.TOKENIZER),
                "no OWT2 tokenizer at " + DataServiceTestProfile.TOKENIZER);
        writeCorpus(DataServiceTestProfile.DATA_ROOT.resolve("corpora/stopping"));
        channel = LoopbackChannels.open(server);
        // An endless stream the client reads one batch of, so the server waits on flow control.
        Iterator<TokenBatch> stream = DataServiceGrpc.newBlockingStub(channel)
                .streamBatches(StreamBatchesRequest.newBuilder()
                        .setCorpus("stopping")
                        .setSeqLen(64)
                        .setBatchSize(64)
                        .setWorldSize(1)
                        .build());
        assertThat(stream.next().getTokensCount()).isEqualTo(64 * 64);
        // Several seconds of tokenizing per text: much longer than the stop may take. The request takes a while to
        // arrive (megabytes), so the stop waits until both calls are in flight.
        ListenableFuture<TokenizeResponse> tokenize = DataServiceGrpc.newFutureStub(channel)
                .tokenize(TokenizeRequest.newBuilder()
                        .addAllTexts(CallWatchTest.heavyTexts(8))
                        .build());
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (inFlight.calls() < 2 && System.nanoTime() < deadline) Thread.sleep(50);
        assertThat(inFlight.calls()).isEqualTo(2);
        Thread.sleep(500);
        assertThat(tokenize.isDone()).isFalse();

        long start = System.nanoTime();
        inFlight.stopAll();
        ExecutionException tokenizeEnd =
                assertThrows(ExecutionException.class, () -> tokenize.get(8, TimeUnit.SECONDS));
        assertThat(Status.fromThrowable(tokenizeEnd.getCause()).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        StatusRuntimeException streamEnd = assertThrows(StatusRuntimeException.class, () -> {
            while (stream.hasNext()) stream.next();
        });
        assertThat(streamEnd.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat((System.nanoTime() - start) / 1e9).isLessThan(8);
        // The stream's thread leaves just after its last message.
        while (inFlight.calls() > 0 && System.nanoTime() < deadline) Thread.sleep(20);
        assertThat(inFlight.calls()).isZero();
    }

    private static void writeCorpus(Path folder) throws IOException {
        Files.createDirectories(folder);
        ObjectMapper json = new ObjectMapper();
        List<String> lines = new ArrayList<>();
        for (int d = 0; d < 50; d++)
            lines.add(json.writeValueAsString("Document " + d + " is about stopping services gracefully and quickly."));
        Files.write(CorpusDirectory.validationFile(folder), lines);
        Files.write(CorpusDirectory.trainFile(folder, 0), lines);
        CorpusDirectory.seal(folder, DataServiceTestProfile.TOKENIZER, new CorpusDirectory.Manifest("test", 1, 50, 50));
    }
}

package plaid.data;

import io.grpc.ManagedChannel;
import io.quarkus.test.common.http.TestHTTPResource;
import java.net.URI;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import plaid.service.LoopbackChannels;
import plaid.v1.DataServiceGrpc;

/** A data-service test's client: a fresh loopback channel and blocking stub for every test, closed after it. */
abstract class DataClientTest {
    @TestHTTPResource("/")
    URI server;

    ManagedChannel channel;
    DataServiceGrpc.DataServiceBlockingStub data;

    @BeforeEach
    void connect() {
        channel = LoopbackChannels.open(server);
        data = DataServiceGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void disconnect() {
        channel.shutdownNow();
    }
}

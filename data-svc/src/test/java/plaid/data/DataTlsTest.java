package plaid.data;

import static org.assertj.core.api.Assertions.assertThat;

import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.TlsChannelCredentials;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.net.URI;
import java.security.KeyStore;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Test;
import plaid.service.LoopbackChannels;
import plaid.v1.DataServiceGrpc;
import plaid.v1.ListDatasetsRequest;

/** With a certificate configured on the HTTP server, gRPC is served over TLS on the same port. */
@QuarkusTest
@TestProfile(TlsDataServiceTestProfile.class)
class DataTlsTest {
    @TestHTTPResource(value = "/", tls = true)
    URI server;

    @Test
    void callsOverTlsWork() throws Exception {
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(KeyStore.getInstance(
                TlsDataServiceTestProfile.KEY_STORE.toFile(), TlsDataServiceTestProfile.PASSWORD.toCharArray()));
        ManagedChannel channel = Grpc.newChannelBuilderForAddress(
                        server.getHost(),
                        server.getPort(),
                        TlsChannelCredentials.newBuilder()
                                .trustManager(trust.getTrustManagers())
                                .build())
                .build();
        try {
            assertThat(LoopbackChannels.health(channel)).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
            assertThat(DataServiceGrpc.newBlockingStub(channel).listDatasets(ListDatasetsRequest.getDefaultInstance()))
                    .isNotNull();
        } finally {
            channel.shutdownNow();
        }
    }
}

package plaid.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.net.URI;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;
import plaid.service.LoopbackChannels;
import plaid.v1.DataServiceGrpc;
import plaid.v1.ListDatasetsRequest;

/** With plaid.auth.token set, calls need the bearer token; health checks stay open. */
@QuarkusTest
@TestProfile(AuthenticatedDataServiceTestProfile.class)
class DataAuthenticationTest {
    @TestHTTPResource("/")
    URI server;

    @Test
    void callsWithoutTheRightTokenAreUnauthenticated() {
        ManagedChannel anonymous = LoopbackChannels.open(server),
                wrong = LoopbackChannels.openWithToken(server, "guess");
        try {
            for (ManagedChannel channel : new ManagedChannel[] {anonymous, wrong})
                assertThatThrownBy(() -> DataServiceGrpc.newBlockingStub(channel)
                                .listDatasets(ListDatasetsRequest.getDefaultInstance()))
                        .isInstanceOfSatisfying(
                                StatusRuntimeException.class,
                                e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
            assertThatThrownBy(() -> LoopbackChannels.reflectedServices(anonymous))
                    .isInstanceOf(ExecutionException.class)
                    .cause()
                    .isInstanceOfSatisfying(
                            StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
            assertThat(LoopbackChannels.health(anonymous)).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
        } finally {
            anonymous.shutdownNow();
            wrong.shutdownNow();
        }
    }

    @Test
    void callsWithTheTokenWork() throws Exception {
        ManagedChannel authenticated =
                LoopbackChannels.openWithToken(server, AuthenticatedDataServiceTestProfile.TOKEN);
        try {
            assertThat(DataServiceGrpc.newBlockingStub(authenticated)
                            .listDatasets(ListDatasetsRequest.getDefaultInstance()))
                    .isNotNull();
            assertThat(LoopbackChannels.reflectedServices(authenticated)).contains("plaid.v1.DataService");
        } finally {
            authenticated.shutdownNow();
        }
    }
}

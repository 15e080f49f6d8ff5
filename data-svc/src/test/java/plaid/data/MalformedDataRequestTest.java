package plaid.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.net.URI;
import org.junit.jupiter.api.Test;
import plaid.service.LoopbackChannels;
import plaid.service.RawRequests;
import plaid.v1.DataServiceGrpc;
import plaid.v1.TokenizeRequest;

/** A Tokenize whose text is not UTF-8, sent as raw bytes over a real channel, is refused naming the text. */
@QuarkusTest
@TestProfile(DataServiceTestProfile.class)
class MalformedDataRequestTest {
    @TestHTTPResource("/")
    URI server;

    @Test
    void aTextThatIsNotUtf8IsInvalidArgumentNamingIt() {
        ManagedChannel channel = LoopbackChannels.open(server);
        try {
            byte[] request = RawRequests.fields(
                    TokenizeRequest.TEXTS_FIELD_NUMBER,
                    "fine".getBytes(),
                    TokenizeRequest.TEXTS_FIELD_NUMBER,
                    RawRequests.invalidUtf8());
            StatusRuntimeException refusal = assertThrows(
                    StatusRuntimeException.class,
                    () -> RawRequests.unary(channel, DataServiceGrpc.getTokenizeMethod(), request));
            assertThat(refusal.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(refusal.getStatus().getDescription()).isEqualTo("texts[1] is not valid UTF-8");
        } finally {
            channel.shutdownNow();
        }
    }
}

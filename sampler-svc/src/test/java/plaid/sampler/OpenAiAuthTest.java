package plaid.sampler;

import static org.assertj.core.api.Assertions.assertThat;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The HTTP side takes the same bearer token as gRPC. */
@QuarkusTest
@TestProfile(OpenAiAuthTest.WithToken.class)
class OpenAiAuthTest {
    static final String TOKEN = "s3cret-token";

    public static class WithToken extends SamplerServiceTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            Map<String, String> config = new HashMap<>(super.getConfigOverrides());
            config.put("plaid.auth.token", TOKEN);
            return config;
        }
    }

    @TestHTTPResource("/")
    URI server;

    @Test
    void requestsWithoutTheTokenAreRefused() throws Exception {
        assertThat(get(null).statusCode()).isEqualTo(401);
        assertThat(get("Bearer wrong").statusCode()).isEqualTo(401);
        HttpResponse<String> allowed = get("Bearer " + TOKEN);
        assertThat(allowed.statusCode()).isEqualTo(200);
        assertThat(allowed.body()).contains("\"object\":\"list\"");
        HttpResponse<String> post = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(server.resolve("/v1/completions"))
                                .POST(HttpRequest.BodyPublishers.ofString("{}"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(post.statusCode()).isEqualTo(401);
        assertThat(post.body()).contains("authentication_error");
    }

    private HttpResponse<String> get(String authorization) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(server.resolve("/v1/models"));
        if (authorization != null) request.header("authorization", authorization);
        return HttpClient.newHttpClient().send(request.build(), HttpResponse.BodyHandlers.ofString());
    }
}

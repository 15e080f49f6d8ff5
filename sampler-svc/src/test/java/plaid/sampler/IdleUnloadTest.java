package plaid.sampler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import plaid.service.LoopbackChannels;
import plaid.v1.ListModelsRequest;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelInfo;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.ScoreRequest;
import plaid.v1.TextOrTokens;
import plaid.v1.TokenIds;

/** With a short idle time, the service unloads a model no call names (ModelRootGuardsTest checks that one in use stays). */
@QuarkusTest
@TestProfile(IdleUnloadTest.ShortIdleProfile.class)
class IdleUnloadTest {
    static final String IDLE_TIME = "1s";

    public static class ShortIdleProfile extends SamplerServiceTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            Map<String, String> config = new HashMap<>(super.getConfigOverrides());
            config.put("sampler-svc.limits.idle-unload", IDLE_TIME);
            return config;
        }
    }

    @TestHTTPResource("/")
    URI server;

    @Test
    void aModelNoCallNamesForTheIdleTimeIsUnloaded() throws Exception {
        Path dir = SamplerServiceTestProfile.MODEL_ROOT.resolve("idle-base");
        if (!Files.isDirectory(dir)) TinyModelDirectory.writeUntrained(dir);
        ManagedChannel channel = LoopbackChannels.open(server);
        try {
            var sampler = SamplerServiceGrpc.newBlockingStub(channel);
            sampler.loadModel(LoadModelRequest.newBuilder()
                    .setName("idle")
                    .setCheckpoint("idle-base")
                    .build());
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (loaded(sampler).contains("idle") && System.nanoTime() < deadline) Thread.sleep(100);
            assertThat(loaded(sampler)).doesNotContain("idle");
            ScoreRequest use = ScoreRequest.newBuilder()
                    .setModel("idle")
                    .setDraws(1)
                    .addTexts(TextOrTokens.newBuilder()
                            .setTokens(TokenIds.newBuilder().addIds(1).addIds(2)))
                    .build();
            StatusRuntimeException gone = assertThrows(StatusRuntimeException.class, () -> sampler.score(use));
            assertThat(gone.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
            assertThat(gone.getStatus().getDescription()).startsWith("model 'idle'");
        } finally {
            channel.shutdownNow();
        }
    }

    private static List<String> loaded(SamplerServiceGrpc.SamplerServiceBlockingStub sampler) {
        return sampler.listModels(ListModelsRequest.getDefaultInstance()).getModelsList().stream()
                .map(ModelInfo::getName)
                .toList();
    }
}

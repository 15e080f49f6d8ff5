package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import plaid.model.CheckpointDirectory;
import plaid.service.LoopbackChannels;
import plaid.service.RawRequests;
import plaid.v1.EvaluateLikelihoodRequest;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;

/** A checkpoint whose files lead out of the run root, and a request that is not UTF-8, are refused naming the field. */
@QuarkusTest
@TestProfile(TrainerServiceTestProfile.class)
class TrainerGuardsTest {
    private static final String SECRET = "hunter2-swordfish";

    @TestHTTPResource("/")
    URI server;

    private ManagedChannel channel;

    @BeforeEach
    void connect() {
        channel = LoopbackChannels.open(server);
    }

    @AfterEach
    void disconnect() {
        channel.shutdownNow();
    }

    @Test
    void aCheckpointWhoseConfigLeadsOutsideIsRefusedWithoutQuotingIt() throws IOException {
        Path outside = Files.createTempDirectory("plaid-outside-the-run-root");
        Files.writeString(outside.resolve("secret.txt"), SECRET + "\n");
        Path checkpoint = Files.createDirectories(TrainerServiceTestProfile.RUN_ROOT.resolve("guard/linked-config"));
        for (String file : new String[] {CheckpointDirectory.CONFIG_FILE, CheckpointDirectory.TOKENIZER_FILE})
            if (!Files.exists(checkpoint.resolve(file), java.nio.file.LinkOption.NOFOLLOW_LINKS))
                Files.createSymbolicLink(checkpoint.resolve(file), outside.resolve("secret.txt"));
        StatusRuntimeException refusal = refusal(() -> TrainerServiceGrpc.newBlockingStub(channel)
                .evaluateLikelihood(EvaluateLikelihoodRequest.newBuilder()
                        .setCheckpoint("guard/linked-config")
                        .setDataset("ptb")
                        .setSplit("valid")
                        .build())
                .next());
        assertThat(refusal.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(refusal.getStatus().getDescription())
                .startsWith("checkpoint ")
                .contains("guard/linked-config/config.json leads outside the root through a link")
                .doesNotContain(SECRET, outside.toString(), TrainerServiceTestProfile.RUN_ROOT.toString());
    }

    @Test
    void aSpecStringThatIsNotUtf8IsRefusedNamingIt() {
        byte[] request = RawRequests.fields(
                SubmitJobRequest.SPEC_FIELD_NUMBER,
                RawRequests.fields(TrainingSpec.CORPUS_FIELD_NUMBER, RawRequests.invalidUtf8()));
        StatusRuntimeException refusal =
                refusal(() -> RawRequests.unary(channel, TrainerServiceGrpc.getSubmitJobMethod(), request));
        assertThat(refusal.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(refusal.getStatus().getDescription()).isEqualTo("spec.corpus is not valid UTF-8");
    }

    private static StatusRuntimeException refusal(Executable call) {
        return assertThrows(StatusRuntimeException.class, call);
    }
}

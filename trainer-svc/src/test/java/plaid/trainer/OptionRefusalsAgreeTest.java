package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.net.URI;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import plaid.options.OptionTable;
import plaid.options.SpecOptions;
import plaid.service.LoopbackChannels;
import plaid.v1.ModelShape;
import plaid.v1.Optimization;
import plaid.v1.Reporting;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;

/**
 * The same out-of-range flags (issue 21), set into a job's spec as the cli sets them, are refused
 * alike by what {@code plaid train submit --validate-only} runs ({@link SpecOptions#config}) and by
 * SubmitJob: the same field, the same words. (Before, val_batch_size=0 and print_freq=0 passed
 * the first and failed the second.)
 */
@QuarkusTest
@TestProfile(TrainerServiceTestProfile.class)
class OptionRefusalsAgreeTest {
    /** Flag, value: each out of its range on the tiny spec (dim 32, batch 8). */
    static final List<List<String>> OUT_OF_RANGE = List.of(
            List.of("lr", "NaN"),
            List.of("lr", "1e309"),
            List.of("lr", "1e300"),
            List.of("lr", "0"),
            List.of("ema", "2"),
            List.of("ema", "-1"),
            List.of("beta1", "1.5"),
            List.of("beta2", "1"),
            List.of("weight_decay", "-1"),
            List.of("lr_warmup_steps", "-1"),
            List.of("grad_accum_steps", "3"),
            List.of("seq_len", "100000000"),
            List.of("batch_size", "99999998"),
            List.of("val_batch_size", "0"),
            List.of("print_freq", "0"),
            List.of("val_steps", "0"),
            List.of("final_val_steps", "-1"),
            List.of("clip_quantile", "0"),
            List.of("n_heads", "3"),
            List.of("BoW_cumsum_gamma", "1.5"),
            List.of("diffusion_mode", "BoW_embedding"));

    @TestHTTPResource("/")
    URI server;

    ManagedChannel channel;
    TrainerServiceGrpc.TrainerServiceBlockingStub trainer;

    @BeforeEach
    void connect() {
        channel = LoopbackChannels.open(server);
        trainer = TrainerServiceGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void disconnect() {
        channel.shutdownNow();
    }

    @Test
    void validateOnlyAndSubmitJobRefuseTheSameFieldAlike() {
        for (List<String> flag : OUT_OF_RANGE) {
            TrainingSpec spec =
                    withFlag(JobPersistenceTests.tinySpec(JobPersistenceTests.STEPS), flag.get(0), flag.get(1));
            SpecOptions.Refusal local = catchThrowableOfType(SpecOptions.Refusal.class, () -> SpecOptions.config(spec));
            assertThat(local)
                    .as("--%s=%s passes --validate-only", flag.get(0), flag.get(1))
                    .isNotNull();
            var option = OptionTable.byName(flag.get(0)).orElseThrow();
            String field = flag.get(0).equals("diffusion_mode")
                    ? "spec.shape.bow_cumsum_gamma" // the mode needs what is unset
                    : "spec." + option.group().specField() + "." + option.field();
            assertThat(local.field()).as(flag.toString()).isEqualTo(field);
            StatusRuntimeException remote = catchThrowableOfType(
                    StatusRuntimeException.class,
                    () -> trainer.submitJob(
                            SubmitJobRequest.newBuilder().setSpec(spec).build()));
            assertThat(remote)
                    .as("--%s=%s passes SubmitJob", flag.get(0), flag.get(1))
                    .isNotNull();
            assertThat(remote.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(remote.getStatus().getDescription()).as(flag.toString()).isEqualTo(local.getMessage());
        }
    }

    /** The spec with one flag set as the cli sets it (OriginalFlags → SpecOptions.setFlag). */
    static TrainingSpec withFlag(TrainingSpec spec, String name, String value) {
        ModelShape.Builder shape = spec.getShape().toBuilder();
        Optimization.Builder optimization = spec.getOptimization().toBuilder();
        Reporting.Builder reporting = spec.getReporting().toBuilder();
        SpecOptions.setFlag(List.of(shape, optimization, reporting), name, value);
        return spec.toBuilder()
                .setShape(shape)
                .setOptimization(optimization)
                .setReporting(reporting)
                .build();
    }
}

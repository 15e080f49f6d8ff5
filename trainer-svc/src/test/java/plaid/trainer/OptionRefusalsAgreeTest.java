package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.util.List;
import org.junit.jupiter.api.Test;
import plaid.options.OptionTable;
import plaid.options.OutOfRangeFlags;
import plaid.options.SpecOptions;
import plaid.v1.ModelShape;
import plaid.v1.Optimization;
import plaid.v1.Reporting;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainingSpec;

/**
 * The same out-of-range flags (issue 21), set into a job's spec as the cli sets them, are refused
 * alike by what {@code plaid train submit --validate-only} runs ({@link SpecOptions#config}) and by
 * SubmitJob: the same field, the same words. (Before, val_batch_size=0 and print_freq=0 passed
 * the first and failed the second.)
 */
@QuarkusTest
@TestProfile(TrainerServiceTestProfile.class)
class OptionRefusalsAgreeTest extends LoopbackTrainerTest {
    /** Flag, value: each out of range on the tiny spec, and one the BoW mode makes wrong (SpecOptions names the unset field). */
    static final List<List<String>> OUT_OF_RANGE = java.util.stream.Stream.concat(
                    OutOfRangeFlags.OWN_RANGE.stream(), java.util.stream.Stream.of(OutOfRangeFlags.NEEDS_ANOTHER))
            .toList();

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

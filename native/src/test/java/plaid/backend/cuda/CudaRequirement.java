package plaid.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The GPU tests' guard, in native's test-jar for every module's CUDA tests: with
 * {@code -Dplaid.cuda.required=true} (gpu/run-tests.sh) a missing device fails the test, elsewhere it
 * skips it, naming why.
 */
public final class CudaRequirement {
    private CudaRequirement() {}

    public static void requireCuda() {
        if (Boolean.getBoolean("plaid.cuda.required"))
            assertThat(CudaBackend.unavailableReason())
                    .as("CUDA is required here")
                    .isEmpty();
        assumeTrue(
                CudaBackend.isAvailable(),
                () -> "no CUDA: " + CudaBackend.unavailableReason().orElseThrow());
    }
}

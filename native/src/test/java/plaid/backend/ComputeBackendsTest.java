package plaid.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import plaid.backend.cuda.CudaBackend;
import plaid.backend.cuda.CudaException;

/** The factory on any machine: "auto" takes CUDA exactly when it is usable. */
class ComputeBackendsTest {
    @Test
    void cpuByName() {
        try (ComputeBackend backend = ComputeBackends.create("CPU")) {
            assertThat(backend.name()).isEqualTo("cpu");
        }
    }

    @Test
    void autoFollowsAvailability() {
        try (ComputeBackend backend = ComputeBackends.create("auto")) {
            assertThat(backend.name()).isEqualTo(CudaBackend.isAvailable() ? "cuda" : "cpu");
        }
    }

    @Test
    void cudaWithoutDeviceSaysWhy() {
        CudaBackend.unavailableReason().ifPresent(reason ->
                assertThatThrownBy(() -> ComputeBackends.create("cuda")).isInstanceOf(CudaException.class).hasMessageContaining(reason));
    }

    @Test
    void unknownName() {
        assertThatThrownBy(() -> ComputeBackends.create("tpu")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("tpu");
    }
}

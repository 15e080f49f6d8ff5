package plaid.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
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
        CudaBackend.unavailableReason()
                .ifPresent(reason -> assertThatThrownBy(() -> ComputeBackends.create("cuda"))
                        .isInstanceOf(CudaException.class)
                        .hasMessageContaining(reason));
    }

    /**
     * What a deployment reads at startup: on a machine without CUDA, that the CPU backend runs and why
     * (the reason names the directories searched, the CUDA runtime images' among them); with CUDA, the
     * device and the libraries the backend loaded, each with its file.
     */
    @Test
    void autoLogsWhichBackendItChoseAndWhy() {
        String loggerName = CudaBackend.isAvailable() ? CudaBackend.class.getName() : ComputeBackends.class.getName();
        List<String> messages = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                messages.add(record.getMessage());
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        Logger logger = Logger.getLogger(loggerName);
        logger.addHandler(capture);
        try (ComputeBackend backend = ComputeBackends.create("auto")) {
            assertThat(backend.name()).isNotEmpty();
        } finally {
            logger.removeHandler(capture);
        }
        CudaBackend.unavailableReason()
                .ifPresentOrElse(
                        reason -> assertThat(messages)
                                .anySatisfy(m -> assertThat(m).contains(reason).contains("using the CPU backend")),
                        () -> assertThat(messages)
                                .anySatisfy(m -> assertThat(m)
                                        .contains("CUDA backend on device")
                                        .contains("libcuda")));
        CudaBackend.unavailableReason()
                .filter(reason -> reason.contains("not found"))
                .ifPresent(reason -> assertThat(reason)
                        .contains("/usr/local/cuda/lib64", "/usr/local/cuda/targets/", "/usr/local/nvidia/lib64"));
    }

    @Test
    void unknownName() {
        assertThatThrownBy(() -> ComputeBackends.create("tpu"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("tpu");
    }
}

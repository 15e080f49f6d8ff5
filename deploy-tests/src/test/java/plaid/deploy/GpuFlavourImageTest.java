package plaid.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The GPU flavour of the images (docker-compose.gpu.yml: the Dockerfile's FLAVOUR=gpu on
 * PLAID_CUDA_IMAGE, default NVIDIA's CUDA runtime image), as far as a machine without a GPU can
 * check it: it builds, carries the JRE copied from the JRE image beside the CUDA image's library
 * layout and environment, runs as the non-root user, and without a GPU the service starts and
 * passes its health check on the CPU. In CI the CUDA base is deploy/base-images.sh's stand-in,
 * which has that layout but no CUDA libraries.
 */
class GpuFlavourImageTest {
    private static final String PROJECT = "plaid-deploy-gpu-test";
    private static final String TAG = "gpu-test";
    private static final String IMAGE = "plaid/sampler-svc:" + TAG + "-gpu";
    private static final String CONTAINER = PROJECT + "-sampler";

    @Test
    void gpuFlavourBuildsOnTheCudaBaseAndItsServiceStartsOnTheCpuWithoutAGpu() throws InterruptedException {
        Docker docker = new Docker(Map.of("PLAID_TAG", TAG));
        docker.skipWithoutEngine("the GPU flavour's build").ifPresent(Assumptions::abort);
        assertThat(Docker.REPO.resolve("sampler-svc/target/quarkus-app/quarkus-run.jar"))
                .as("sampler-svc packaged")
                .exists();
        String hint =
                "without a registry, build stand-ins with deploy/base-images.sh and set PLAID_JRE_IMAGE and PLAID_CUDA_IMAGE";
        docker.requireImage(Docker.baseImage("PLAID_JRE_IMAGE", "eclipse-temurin:25-jre"), hint);
        docker.requireImage(Docker.baseImage("PLAID_CUDA_IMAGE", "nvidia/cuda:13.0.2-runtime-ubuntu24.04"), hint);

        docker.require(
                Duration.ofMinutes(15),
                "compose",
                "-p",
                PROJECT,
                "-f",
                "docker-compose.yml",
                "-f",
                "docker-compose.gpu.yml",
                "build",
                "sampler-svc");
        try {
            String inside = docker.require(
                    Duration.ofMinutes(1),
                    "run",
                    "--rm",
                    "--entrypoint",
                    "sh",
                    IMAGE,
                    "-c",
                    "id -un; java -version 2>&1 | head -1; readlink -f /usr/local/cuda/lib64; echo \"$LD_LIBRARY_PATH\"; echo \"$NVIDIA_DRIVER_CAPABILITIES\"");
            assertThat(inside.lines().toList()).as(inside).hasSize(5).satisfies(lines -> {
                assertThat(lines.get(0)).isEqualTo("plaid");
                assertThat(lines.get(1)).contains("version \"25");
                assertThat(lines.get(2)).startsWith("/usr/local/cuda-13.0/");
                assertThat(lines.get(3)).contains("/usr/local/nvidia/lib64");
                assertThat(lines.get(4)).contains("compute");
            });

            docker.run(Duration.ofMinutes(1), "rm", "--force", CONTAINER);
            docker.require(
                    Duration.ofMinutes(1),
                    "run",
                    "--detach",
                    "--name",
                    CONTAINER,
                    "-e",
                    "SAMPLER_SVC_BACKEND=auto",
                    "-e",
                    "SAMPLER_SVC_MODEL_ROOT=/var/lib/plaid/state",
                    IMAGE);
            assertThat(awaitHealth(docker, Duration.ofMinutes(4)))
                    .as(docker.run(Duration.ofSeconds(30), "logs", CONTAINER).tail())
                    .isEqualTo("healthy");
        } finally {
            docker.run(Duration.ofMinutes(1), "rm", "--force", "--volumes", CONTAINER);
            docker.run(Duration.ofMinutes(1), "image", "rm", IMAGE);
        }
    }

    /** The container's health once it is no longer starting (or still starting at the deadline). */
    private static String awaitHealth(Docker docker, Duration timeout) throws InterruptedException {
        Instant deadline = Instant.now().plus(timeout);
        String health;
        do {
            Thread.sleep(2000);
            health = docker.require(
                            Duration.ofSeconds(30), "inspect", "--format", "{{.State.Health.Status}}", CONTAINER)
                    .strip();
        } while (health.equals("starting") && Instant.now().isBefore(deadline));
        return health;
    }
}

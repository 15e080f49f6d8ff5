package plaid.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.ComposeContainer;
import org.testcontainers.containers.wait.strategy.Wait;

/**
 * Starts docker-compose.yml (images built from the packaged services) and asks each service's
 * gRPC health service whether it serves. Skipped where there is no Docker engine.
 */
class ComposeStackTest {
    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
    private static final List<String> SERVICES = List.of("data-svc", "trainer-svc", "sampler-svc");
    private static final List<Integer> PORTS = List.of(9101, 9102, 9103);

    @Test
    void everyServiceReportsServing() {
        assumeTrue(DockerClientFactory.instance().isDockerAvailable(), "no Docker engine reachable: the compose stack cannot start here");
        for (String service : SERVICES) {
            assumeTrue(Files.exists(REPO.resolve(service).resolve("target/quarkus-app/quarkus-run.jar")),
                    service + " is not packaged: run ./mvnw install -DskipTests -Dquarkus.datasource.db-kind=postgresql first");
        }

        // docker-compose.cpu.yml drops the GPU reservations: few CI runners have the NVIDIA container toolkit.
        // Without an image name, ComposeContainer runs the local docker compose, which builds from this checkout.
        ComposeContainer stack = new ComposeContainer(List.of(REPO.resolve("docker-compose.yml").toFile(), new File("docker-compose.cpu.yml")))
                .withBuild(true)
                .withRemoveVolumes(true)
                .withStartupTimeout(Duration.ofMinutes(5));
        for (int i = 0; i < SERVICES.size(); i++) {
            stack.withExposedService(SERVICES.get(i) + "-1", PORTS.get(i), Wait.forListeningPort().withStartupTimeout(Duration.ofMinutes(5)));
        }
        stack.start();
        try {
            for (int i = 0; i < SERVICES.size(); i++) {
                String instance = SERVICES.get(i) + "-1";
                assertThat(health(stack.getServiceHost(instance, PORTS.get(i)), stack.getServicePort(instance, PORTS.get(i))))
                        .as(SERVICES.get(i)).isEqualTo(ServingStatus.SERVING);
            }
        } finally {
            stack.stop();
        }
    }

    /** The overall status ("" service) that Quarkus' gRPC health reports. */
    private static ServingStatus health(String host, int port) {
        ManagedChannel channel = ManagedChannelBuilder.forAddress(host, port).usePlaintext().build();
        try {
            return HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance()).getStatus();
        } finally {
            channel.shutdownNow();
        }
    }
}

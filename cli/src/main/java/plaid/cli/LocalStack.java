package plaid.cli;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The three services as local processes on loopback (what {@code plaid demo} runs on):
 * each packaged Quarkus app started with the JVM running this command, its log in
 * {@code <work>/logs}, and ready once its gRPC health check says SERVING.
 */
final class LocalStack implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofMinutes(3);

    record Service(String module, int port, List<String> properties) {
        String address() {
            return "127.0.0.1:" + port;
        }
    }

    private final List<Process> processes = new ArrayList<>();
    private final Path logs;

    private LocalStack(Path logs) {
        this.logs = logs;
    }

    static LocalStack start(Path home, Path work, List<Service> services) throws IOException, InterruptedException {
        Path logs = Files.createDirectories(work.resolve("logs"));
        LocalStack stack = new LocalStack(logs);
        try {
            for (Service s : services) stack.launch(home, s);
            for (int i = 0; i < services.size(); i++) stack.awaitServing(services.get(i), stack.processes.get(i));
            return stack;
        } catch (IOException | InterruptedException | RuntimeException e) {
            stack.close();
            throw e;
        }
    }

    private void launch(Path home, Service s) throws IOException {
        Path jar = home.resolve(s.module()).resolve("target/quarkus-app/quarkus-run.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " is missing: build first with ./mvnw install -DskipTests (./plaid does on its first run)");
        }
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector",
                "--sun-misc-unsafe-memory-access=allow", "-Dquarkus.http.port=" + s.port()));
        s.properties().forEach(p -> command.add("-D" + p));
        command.addAll(List.of("-jar", jar.toString()));
        Path log = logs.resolve(s.module() + ".log");
        processes.add(new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start());
    }

    private void awaitServing(Service s, Process process) throws InterruptedException, IOException {
        Instant deadline = Instant.now().plus(START_TIMEOUT);
        ManagedChannel channel = Services.channel(s.address(), null);
        try {
            while (Instant.now().isBefore(deadline)) {
                if (!process.isAlive()) {
                    throw new IllegalStateException(s.module() + " exited with " + process.exitValue() + "; its log ends:\n" + tail(s));
                }
                try {
                    HealthCheckResponse r = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(java.time.Duration.ofSeconds(2))
                            .check(HealthCheckRequest.getDefaultInstance());
                    if (r.getStatus() == HealthCheckResponse.ServingStatus.SERVING) return;
                } catch (StatusRuntimeException notYet) {
                    // still starting
                }
                Thread.sleep(250);
            }
            throw new IllegalStateException(s.module() + " did not become ready within " + START_TIMEOUT.toSeconds() + " s; its log ends:\n" + tail(s));
        } finally {
            Services.close(channel);
        }
    }

    private String tail(Service s) throws IOException {
        List<String> lines = Files.readAllLines(logs.resolve(s.module() + ".log"));
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    }

    /** Stops every service gracefully (SIGTERM: Quarkus finishes or checkpoints its work), then waits. */
    @Override
    public void close() {
        processes.forEach(Process::destroy);
        for (Process p : processes) {
            try {
                if (!p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) p.destroyForcibly();
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}

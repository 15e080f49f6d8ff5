package plaid.trainer;

import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import plaid.service.LoopbackChannels;
import plaid.v1.TrainerServiceGrpc;

/**
 * The packaged service (quarkus-run.jar) in its own process on the Java running the test, on one
 * free port and one fresh root, so that a test can kill it with -9 and start it again where it was.
 * {@link #close} after each test.
 */
public final class PackagedTrainer implements AutoCloseable {
    /** The jar the package phase built; failsafe names it. */
    public static final Path JAR = Path.of(
                    System.getProperty("plaid.trainer.jar", "target/quarkus-app/quarkus-run.jar"))
            .toAbsolutePath();

    private final Path root;
    private final int port = freePort();
    private final List<String> flags;
    private Process service;
    private ManagedChannel channel;

    /**
     * @param rootPrefix the name the temporary run root starts with
     * @param flags the service's system properties beyond its root, port and a 100-document demo corpus
     */
    public PackagedTrainer(String rootPrefix, List<String> flags) {
        this.root = createRoot(rootPrefix);
        this.flags = List.copyOf(flags);
    }

    public Path root() {
        return root;
    }

    public int port() {
        return port;
    }

    /** Starts the service and waits until its health check says serving; its output goes to service.log in the root. */
    public TrainerServiceGrpc.TrainerServiceBlockingStub start() throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(
                List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(Arrays.asList(System.getProperty("plaid.jvm.flags", "").split("\\s+")));
        command.addAll(List.of(
                "-Djava.awt.headless=true",
                "-Dtrainer-svc.root=" + root,
                "-Dquarkus.http.port=" + port,
                "-Dtrainer-svc.demo-documents=100"));
        command.addAll(flags);
        command.addAll(List.of("-jar", JAR.toString()));
        command.removeIf(String::isEmpty);
        service = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(
                        root.resolve("service.log").toFile()))
                .start();
        channel = LoopbackChannels.open("127.0.0.1", port);
        LoopbackChannels.awaitServing(channel, service, Duration.ofSeconds(60), root.resolve("service.log"));
        return TrainerServiceGrpc.newBlockingStub(channel);
    }

    /** kill -9 of the service, and its channel closed. */
    public void kill() throws InterruptedException {
        service.destroyForcibly().waitFor();
        channel.shutdownNow();
    }

    @Override
    public void close() throws InterruptedException {
        if (channel != null) channel.shutdownNow();
        if (service != null) {
            service.destroy();
            service.waitFor(30, TimeUnit.SECONDS);
        }
    }

    private static Path createRoot(String prefix) {
        try {
            return Files.createTempDirectory(prefix);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

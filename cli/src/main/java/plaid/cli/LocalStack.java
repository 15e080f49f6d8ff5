package plaid.cli;

import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The three services as local processes on loopback (what {@code plaid demo} runs on):
 * each packaged Quarkus app started with the JVM running this command, its log in
 * {@code <work>/logs}, and ready once its gRPC health check says SERVING.
 *
 * <p>It only ever talks to services it started: a port already taken is refused before launch,
 * and a service counts as ready only when the process listening on its port is the one launched
 * (on Linux, checked through /proc). One command at a time holds a work dir (a lock file), and
 * the services stop when this JVM ends, on Ctrl-C as on a normal exit (a shutdown hook).
 */
final class LocalStack implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofMinutes(3);

    record Service(String module, int port, List<String> properties) {
        String address() {
            return "127.0.0.1:" + port;
        }
    }

    /** The three services on the CPU as the demo runs them, under one work dir; the sampler reads checkpoints where the trainer writes them. */
    record CpuServices(Service data, Service trainer, Service sampler) {
        static CpuServices under(
                Path work, int dataPort, int trainerPort, int samplerPort, List<String> moreTrainerProperties) {
            Path runs = trainerRoot(work);
            // the trainer reads data-svc's prepared corpora in place (read-only), as compose shares the volume
            List<String> trainerProperties = new ArrayList<>(List.of(
                    "trainer-svc.root=" + runs,
                    "trainer-svc.backend=cpu",
                    "trainer-svc.corpus-root=" + dataRoot(work)));
            trainerProperties.addAll(moreTrainerProperties);
            return new CpuServices(
                    new Service("data-svc", dataPort, List.of("data-svc.root=" + dataRoot(work))),
                    new Service("trainer-svc", trainerPort, trainerProperties),
                    new Service(
                            "sampler-svc",
                            samplerPort,
                            List.of("sampler-svc.model-root=" + runs, "sampler-svc.backend=cpu")));
        }

        static Path dataRoot(Path work) {
            return work.resolve("data");
        }

        /** The trainer's run root, where its jobs write checkpoints and its zero-shot files lie; also the sampler's model root. */
        static Path trainerRoot(Path work) {
            return work.resolve("trainer");
        }

        List<Service> all() {
            return List.of(data, trainer, sampler);
        }
    }

    static final String LOCK_FILE = "plaid-stack.lock";

    private final Map<Service, Process> processes = new LinkedHashMap<>();
    private final Path home;
    private final Path logs;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final Thread stopOnExit = new Thread(this::stopServices, "plaid-stack-shutdown");
    private boolean closed;

    private LocalStack(Path home, Path logs, FileChannel lockChannel, FileLock lock) {
        this.home = home;
        this.logs = logs;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    static LocalStack start(Path home, Path work, List<Service> services) throws IOException, InterruptedException {
        Path logs = Files.createDirectories(work.resolve("logs"));
        Path lockFile = work.resolve(LOCK_FILE);
        FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException heldHere) {
            lock = null;
        }
        if (lock == null) {
            channel.close();
            throw new IllegalStateException("another plaid command runs the services of " + work + " (it holds "
                    + lockFile + "): stop it, or use another --work-dir");
        }
        LocalStack stack = new LocalStack(home, logs, channel, lock);
        Runtime.getRuntime().addShutdownHook(stack.stopOnExit);
        try {
            for (Service s : services) requireFree(s);
            for (Service s : services) stack.launch(s);
            for (Service s : services) stack.awaitServing(s);
            return stack;
        } catch (IOException | InterruptedException | RuntimeException e) {
            stack.close();
            throw e;
        }
    }

    /** Refuses a port something else already listens on: never adopt a service this command did not start. */
    private static void requireFree(Service s) {
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true); // a port left in TIME_WAIT by a stack that ended is free; a listener is not
            probe.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), s.port()));
        } catch (IOException taken) {
            throw new IllegalStateException(
                    s.address() + " (" + s.module() + "'s port) is already in use by a process this command did"
                            + " not start, perhaps services left running: stop them, or choose other ports (plaid demo --base-port)");
        }
    }

    /** kill -9 of one service, as a crash would end it: no shutdown hook, no final checkpoint. */
    void kill(Service s) throws InterruptedException {
        processes.get(s).destroyForcibly().waitFor();
    }

    /** Starts a service again (after {@link #kill}) and waits until it serves; its log goes on where it stopped. */
    void restart(Service s) throws IOException, InterruptedException {
        launch(s);
        awaitServing(s);
    }

    private void launch(Service s) throws IOException {
        Path jar = home.resolve(s.module()).resolve("target/quarkus-app/quarkus-run.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(
                    jar + " is missing: build first with ./mvnw install -DskipTests (./plaid does on its first run)");
        }
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(
                java,
                "--enable-native-access=ALL-UNNAMED",
                "--add-modules",
                "jdk.incubator.vector",
                "--sun-misc-unsafe-memory-access=allow",
                "-Dquarkus.http.port=" + s.port()));
        s.properties().forEach(p -> command.add("-D" + p));
        command.addAll(List.of("-jar", jar.toString()));
        Path log = logs.resolve(s.module() + ".log");
        processes.put(
                s,
                new ProcessBuilder(command)
                        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                        .start());
    }

    private void awaitServing(Service s) throws InterruptedException, IOException {
        Process process = processes.get(s);
        Instant deadline = Instant.now().plus(START_TIMEOUT);
        try (Services.Connection connection = Services.connect(s.address(), null)) {
            while (Instant.now().isBefore(deadline)) {
                if (!process.isAlive()) {
                    throw new IllegalStateException(
                            s.module() + " exited with " + process.exitValue() + "; its log ends:\n" + tail(s));
                }
                try {
                    HealthCheckResponse r = HealthGrpc.newBlockingStub(connection.channel())
                            .withDeadlineAfter(java.time.Duration.ofSeconds(2))
                            .check(HealthCheckRequest.getDefaultInstance());
                    if (r.getStatus() == HealthCheckResponse.ServingStatus.SERVING) {
                        if (ListeningSockets.owner(s.port(), process.toHandle()).orElse(true)) return;
                        throw new IllegalStateException(s.address() + " answers, but not from the " + s.module()
                                + " this command started: refusing to use a service it did not start");
                    }
                } catch (StatusRuntimeException notYet) {
                    // still starting
                }
                Thread.sleep(250);
            }
            throw new IllegalStateException(s.module() + " did not become ready within " + START_TIMEOUT.toSeconds()
                    + " s; its log ends:\n" + tail(s));
        }
    }

    private String tail(Service s) throws IOException {
        List<String> lines = Files.readAllLines(logs.resolve(s.module() + ".log"));
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    }

    /**
     * Leaves the services running after this command ends ({@code plaid up}): no shutdown hook
     * stops them any more and the work dir's lock is freed. Returns their processes, in start order.
     */
    synchronized Map<Service, ProcessHandle> detach() {
        closed = true;
        Runtime.getRuntime().removeShutdownHook(stopOnExit);
        releaseLock();
        Map<Service, ProcessHandle> handles = new LinkedHashMap<>();
        processes.forEach((s, p) -> handles.put(s, p.toHandle()));
        return handles;
    }

    /** Stops every service gracefully (SIGTERM: Quarkus finishes or checkpoints its work), then waits; frees the work dir. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        try {
            Runtime.getRuntime().removeShutdownHook(stopOnExit);
        } catch (IllegalStateException exiting) {
            // the JVM is shutting down: the hook runs, or has run, stopServices itself
        }
        stopServices();
        releaseLock();
    }

    private void releaseLock() {
        try {
            lock.release();
            lockChannel.close();
        } catch (IOException ignored) {
            // the lock goes with the channel, or with this JVM
        }
    }

    /** The shutdown hook's work too: on Ctrl-C the services must not outlive the command. */
    private synchronized void stopServices() {
        processes.values().forEach(Process::destroy);
        for (Process p : processes.values()) {
            try {
                if (!p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) p.destroyForcibly();
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}

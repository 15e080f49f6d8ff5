package plaid.trainer.cluster;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * The worker JVMs a cluster test starts against its coordinator, on the test's classpath, each
 * with its output in a file (shown when a wait times out); {@link #killAll} after each test.
 */
public final class WorkerProcesses {
    private final URI coordinator;
    private final Path logFolder;
    private final Duration patience;
    private final Map<Process, Path> logs = new LinkedHashMap<>();

    /** @param patience how long {@link #await} waits */
    public WorkerProcesses(URI coordinator, Path logFolder, Duration patience) {
        this.coordinator = coordinator;
        this.logFolder = logFolder;
        this.patience = patience;
    }

    /** A worker of {@code jobId} with {@code runner}, node {@code nodeIndex}, under {@code root}. */
    public Process start(String jobId, String runner, int nodeIndex, int devices, Path root, List<String> jvmFlags)
            throws IOException {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command =
                new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-cp", classpath));
        command.addAll(jvmFlags);
        command.addAll(List.of(
                Worker.class.getName(),
                "--coordinator",
                coordinator.getHost() + ":" + coordinator.getPort(),
                "--job",
                jobId,
                "--runner",
                runner,
                "--devices",
                Integer.toString(devices),
                "--node-index",
                Integer.toString(nodeIndex),
                "--root",
                root.toString(),
                "--host",
                "loopback",
                "--connect-timeout",
                "20s"));
        Path log = Files.createTempFile(logFolder, "worker-" + nodeIndex + "-", ".log");
        Process process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        logs.put(process, log);
        return process;
    }

    /** The workers in the order they started. */
    public List<Process> started() {
        return List.copyOf(logs.keySet());
    }

    public Path log(Process worker) {
        return logs.get(worker);
    }

    /** Waits for {@code condition}; on time-out fails naming {@code what}, with every worker's log. */
    public void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + patience.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for " + what + logs());
            Thread.sleep(100);
        }
    }

    /** Every worker's output so far, for a failed assertion's message. */
    public String logs() {
        StringBuilder text = new StringBuilder();
        logs.forEach((process, log) -> {
            try {
                text.append("\n--- ").append(log).append('\n').append(Files.readString(log));
            } catch (IOException e) {
                text.append("\n(no log ").append(log).append(')');
            }
        });
        return text.toString();
    }

    public void killAll() {
        logs.keySet().forEach(Process::destroyForcibly);
    }
}

package plaid.cli;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * What {@code plaid up} started, written to {@code <work>/plaid-up.json} so that later commands
 * find the services ({@code plaid down}, {@code plaid status}, and every client command that is
 * given no address). Each process is recorded with its start time: a PID the system has since
 * given to another process is never taken for a service (nor stopped by {@code plaid down}).
 */
record StackState(Path work, Path dataRoot, Path trainerRoot, Path logs, List<ServiceProcess> services) {
    static final String FILE = "plaid-up.json";

    /** The work dir {@code plaid up} uses when none is given, relative to the plaid home like the demo's. */
    static final String DEFAULT_WORK_DIR = "runs/local";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /** One service process: its module name (data-svc, ...), gRPC address, PID and the start time the system gave it. */
    record ServiceProcess(String module, String address, long pid, String startedAt) {
        /** The live process this record names, if it still runs (same PID and same start time). */
        Optional<ProcessHandle> handle() {
            return ProcessHandle.of(pid)
                    .filter(ProcessHandle::isAlive)
                    .filter(p -> startedAt == null
                            || p.info()
                                    .startInstant()
                                    .map(Instant::toString)
                                    .orElse("")
                                    .equals(startedAt));
        }

        static ServiceProcess of(String module, String address, ProcessHandle handle) {
            return new ServiceProcess(
                    module,
                    address,
                    handle.pid(),
                    handle.info().startInstant().map(Instant::toString).orElse(null));
        }
    }

    /** The work dir a command means: an absolute path as given, a relative one under the plaid home (as ./plaid sets it). */
    static Path workDir(Path given) {
        return Path.of(System.getProperty("plaid.home", "."))
                .resolve(given)
                .toAbsolutePath()
                .normalize();
    }

    static Path file(Path work) {
        return work.resolve(FILE);
    }

    /** The state of the stack under {@code work}; empty when none was brought up there (or it was brought down). */
    static Optional<StackState> read(Path work) {
        Path file = file(work);
        if (!Files.isRegularFile(file)) return Optional.empty();
        try {
            return Optional.of(JSON.readValue(file.toFile(), StackState.class));
        } catch (IOException e) {
            throw new IllegalStateException(
                    file + " is not a plaid up state file (" + e.getMessage() + "); if no services run, remove it");
        }
    }

    /** Written whole to a temporary file, then moved over the old one: a reader never sees half a state. */
    void write() {
        try {
            Files.createDirectories(work);
            Path tmp = work.resolve(FILE + ".tmp");
            JSON.writeValue(tmp.toFile(), this);
            Files.move(tmp, file(work), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file(work), e);
        }
    }

    void delete() {
        try {
            Files.deleteIfExists(file(work));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + file(work), e);
        }
    }

    Optional<ServiceProcess> service(String module) {
        return services.stream().filter(s -> s.module().equals(module)).findFirst();
    }

    /** The recorded services that still run. */
    List<ServiceProcess> running() {
        return services.stream().filter(s -> s.handle().isPresent()).toList();
    }
}

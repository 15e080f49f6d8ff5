package plaid.cli;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code plaid down}: stops what {@code plaid up} started. SIGTERM first (Quarkus stops
 * gracefully: the trainer checkpoints its running jobs), SIGKILL for what still runs after the
 * timeout, and the state file goes only when nothing recorded in it runs any more.
 */
@Command(
        name = "down",
        mixinStandardHelpOptions = true,
        description = "Stop the services plaid up started (gracefully, then killed after --timeout).")
final class DownCommand implements Callable<Integer> {
    @Option(
            names = "--work-dir",
            defaultValue = "${env:PLAID_WORK_DIR:-" + StackState.DEFAULT_WORK_DIR + "}",
            description = "the work dir given to plaid up (env PLAID_WORK_DIR; default: ${DEFAULT-VALUE})")
    Path workDir;

    @Option(
            names = "--timeout",
            defaultValue = "30",
            description = "seconds to wait for a graceful stop before killing (default: ${DEFAULT-VALUE})")
    int timeoutSeconds;

    @Override
    public Integer call() throws InterruptedException {
        if (timeoutSeconds < 0) throw new IllegalArgumentException("--timeout must be >= 0, got " + timeoutSeconds);
        Path work = StackState.workDir(workDir);
        Optional<StackState> state = StackState.read(work);
        if (state.isEmpty()) {
            System.out.println("no stack is up under " + work);
            return 0;
        }
        List<String> survivors = stop(state.get(), Duration.ofSeconds(timeoutSeconds));
        if (!survivors.isEmpty()) {
            System.err.println("plaid: still running after SIGKILL: " + survivors + "; the state file "
                    + StackState.file(work) + " is kept");
            return PlaidCommand.EXIT_SERVICE;
        }
        state.get().delete();
        System.out.println("down");
        return 0;
    }

    /** Stops every recorded process that still runs; returns those that survived even SIGKILL. */
    static List<String> stop(StackState state, Duration timeout) throws InterruptedException {
        List<StackState.ServiceProcess> running = new ArrayList<>();
        for (StackState.ServiceProcess s : state.services()) {
            Optional<ProcessHandle> p = s.handle();
            if (p.isEmpty()) {
                System.out.println(s.module() + " (pid " + s.pid() + ") was not running");
                continue;
            }
            p.get().destroy();
            running.add(s);
        }
        Instant deadline = Instant.now().plus(timeout);
        for (StackState.ServiceProcess s : running) {
            Optional<ProcessHandle> p = s.handle();
            if (p.isEmpty()) {
                System.out.println("stopped " + s.module() + " (pid " + s.pid() + ")");
                continue;
            }
            try {
                long left =
                        Math.max(0, Duration.between(Instant.now(), deadline).toMillis());
                p.get().onExit().get(left, java.util.concurrent.TimeUnit.MILLISECONDS);
                System.out.println("stopped " + s.module() + " (pid " + s.pid() + ")");
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException slow) {
                p.get().destroyForcibly();
                System.out.println("killed " + s.module() + " (pid " + s.pid() + "): still running after "
                        + timeout.toSeconds() + " s");
            }
        }
        List<String> survivors = new ArrayList<>();
        for (StackState.ServiceProcess s : running) {
            Optional<ProcessHandle> p = s.handle();
            if (p.isPresent() && !awaitExit(p.get(), Duration.ofSeconds(10))) survivors.add(s.module() + " " + s.pid());
        }
        return survivors;
    }

    private static boolean awaitExit(ProcessHandle p, Duration within) throws InterruptedException {
        try {
            p.onExit().get(within.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
            return !p.isAlive();
        }
    }
}

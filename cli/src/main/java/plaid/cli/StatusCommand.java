package plaid.cli;

import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code plaid status}: which services of a {@code plaid up} stack run, and what their gRPC health check answers. */
@Command(
        name = "status",
        mixinStandardHelpOptions = true,
        description = {
            "Show the services plaid up started: process, address and gRPC health of each.",
            "Exit code 0 when all three run and serve, 3 otherwise."
        })
final class StatusCommand implements Callable<Integer> {
    static final String SERVING = "SERVING";

    @Option(
            names = "--work-dir",
            defaultValue = "${env:PLAID_WORK_DIR:-" + StackState.DEFAULT_WORK_DIR + "}",
            description = "the work dir given to plaid up (env PLAID_WORK_DIR; default: ${DEFAULT-VALUE})")
    Path workDir;

    @Override
    public Integer call() {
        Path work = StackState.workDir(workDir);
        Optional<StackState> state = StackState.read(work);
        if (state.isEmpty()) {
            System.out.println("no stack is up under " + work + " (start one with plaid up)");
            return PlaidCommand.EXIT_SERVICE;
        }
        return print(state.get(), System.out) ? 0 : PlaidCommand.EXIT_SERVICE;
    }

    /** One line per service and the roots; whether every service runs and serves. */
    static boolean print(StackState state, PrintStream out) {
        out.printf("%-12s %-8s %-21s %s%n", "SERVICE", "PID", "ADDRESS", "HEALTH");
        boolean allServing = true;
        for (StackState.ServiceProcess s : state.services()) {
            String health = s.handle().isPresent() ? health(s.address()) : "not running";
            allServing &= health.equals(SERVING);
            out.printf("%-12s %-8d %-21s %s%n", s.module(), s.pid(), s.address(), health);
        }
        out.println("data root:    " + state.dataRoot());
        out.println("trainer root: " + state.trainerRoot());
        out.println("logs:         " + state.logs());
        return allServing;
    }

    /** The service's answer to the standard gRPC health check, or why there is none. */
    static String health(String address) {
        try (Services.Connection connection = Services.connect(address, null)) {
            return HealthGrpc.newBlockingStub(connection.channel())
                    .withDeadlineAfter(Duration.ofSeconds(3))
                    .check(HealthCheckRequest.getDefaultInstance())
                    .getStatus()
                    .name();
        } catch (StatusRuntimeException e) {
            return "no answer (" + e.getStatus().getCode() + ")";
        }
    }
}

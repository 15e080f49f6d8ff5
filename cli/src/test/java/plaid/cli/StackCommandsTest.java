package plaid.cli;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The state {@code plaid up} leaves and what {@code plaid status}, {@code plaid down} and the
 * client commands make of it, with ordinary processes standing in for the services (the
 * services themselves run in e2e-tests' PlaidWorkflowIT).
 */
class StackCommandsTest {
    @TempDir
    Path work;

    private final List<Process> started = new ArrayList<>();

    @AfterEach
    void killWhatTheTestStarted() {
        started.forEach(Process::destroyForcibly);
    }

    @Test
    void stateRoundTripsAndOnlyTheRecordedProcessCountsAsRunning() throws Exception {
        Process live = start("sleep", "600");
        Process ended = start("true");
        ended.waitFor();
        StackState state = state(
                new StackState.ServiceProcess("data-svc", "127.0.0.1:4001", live.pid(), startedAt(live)),
                new StackState.ServiceProcess("trainer-svc", "127.0.0.1:4002", ended.pid(), null),
                // the live PID with another start time: the system gave the PID to another process
                new StackState.ServiceProcess("sampler-svc", "127.0.0.1:4003", live.pid(), "2001-01-01T00:00:00Z"));
        state.write();

        StackState read = StackState.read(work).orElseThrow();
        assertThat(read).isEqualTo(state);
        assertThat(read.running()).extracting(StackState.ServiceProcess::module).containsExactly("data-svc");
        assertThat(read.service("trainer-svc").orElseThrow().address()).isEqualTo("127.0.0.1:4002");
    }

    @Test
    void aCorruptStateFileIsAnErrorNamingIt() throws Exception {
        Files.writeString(StackState.file(work), "{ not json");
        Run status = plaid("status", "--work-dir", work.toString());
        assertThat(status.exitCode()).isEqualTo(PlaidCommand.EXIT_SERVICE);
        assertThat(status.err()).contains(StackState.file(work).toString()).contains("not a plaid up state file");
    }

    @Test
    void downStopsEveryRecordedProcessKillingOneThatIgnoresSigterm() throws Exception {
        Process polite = start("sleep", "600");
        Process stubborn = start("sh", "-c", "trap '' TERM; while :; do sleep 0.2; done");
        Thread.sleep(300); // the trap is set
        state(service("data-svc", polite), service("trainer-svc", stubborn)).write();

        Run down = plaid("down", "--work-dir", work.toString(), "--timeout", "1");

        assertThat(down.exitCode()).as(down.toString()).isZero();
        assertThat(down.out())
                .contains("stopped data-svc (pid " + polite.pid() + ")")
                .contains("killed trainer-svc (pid " + stubborn.pid() + ")");
        assertThat(polite.isAlive()).isFalse();
        assertThat(stubborn.isAlive()).isFalse();
        assertThat(StackState.file(work)).doesNotExist();

        Run again = plaid("down", "--work-dir", work.toString());
        assertThat(again.exitCode()).isZero();
        assertThat(again.out()).contains("no stack is up under " + work);
    }

    @Test
    void downLeavesAProcessWhosePidWasReusedAlone() throws Exception {
        Process stranger = start("sleep", "600");
        state(new StackState.ServiceProcess("data-svc", "127.0.0.1:4001", stranger.pid(), "2001-01-01T00:00:00Z"))
                .write();

        Run down = plaid("down", "--work-dir", work.toString(), "--timeout", "1");

        assertThat(down.exitCode()).as(down.toString()).isZero();
        assertThat(down.out()).contains("data-svc (pid " + stranger.pid() + ") was not running");
        assertThat(stranger.isAlive()).isTrue();
        assertThat(StackState.file(work)).doesNotExist();
    }

    @Test
    void statusWithoutAStackSaysHowToStartOne() {
        Run status = plaid("status", "--work-dir", work.toString());
        assertThat(status.exitCode()).isEqualTo(PlaidCommand.EXIT_SERVICE);
        assertThat(status.out()).contains("no stack is up under " + work).contains("plaid up");
    }

    @Test
    void statusTellsAStoppedProcessFromOneThatDoesNotAnswer() throws Exception {
        Process ended = start("true");
        ended.waitFor();
        state(
                        new StackState.ServiceProcess("data-svc", "127.0.0.1:1", ended.pid(), null),
                        service("trainer-svc", ProcessHandle.current(), "127.0.0.1:1"))
                .write();

        Run status = plaid("status", "--work-dir", work.toString());

        assertThat(status.exitCode()).as(status.toString()).isEqualTo(PlaidCommand.EXIT_SERVICE);
        assertThat(status.lines())
                .anySatisfy(l -> assertThat(l).startsWith("data-svc").endsWith("not running"))
                .anySatisfy(l -> assertThat(l)
                        .startsWith("trainer-svc")
                        .contains(Long.toString(ProcessHandle.current().pid()))
                        .contains("no answer (UNAVAILABLE)"))
                .anySatisfy(l -> assertThat(l).isEqualTo("data root:    " + work.resolve("data")));
    }

    @Test
    void upRefusesAHalfRunningStackAndABadPort() throws Exception {
        Process ended = start("true");
        ended.waitFor();
        state(
                        new StackState.ServiceProcess("data-svc", "127.0.0.1:1", ended.pid(), null),
                        service("trainer-svc", ProcessHandle.current(), "127.0.0.1:1"))
                .write();

        Run up = plaid("up", "--work-dir", work.toString());
        assertThat(up.exitCode()).as(up.toString()).isEqualTo(PlaidCommand.EXIT_SERVICE);
        assertThat(up.err()).contains("[trainer-svc]").contains("run plaid down first");

        Run badPort = plaid("up", "--work-dir", work.resolve("other").toString(), "--base-port", "70000");
        assertThat(badPort.exitCode()).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(badPort.err()).contains("--base-port must be in [1, 65533], got 70000");
    }

    @Test
    void upOfAStackThatRunsStartsNothing() throws Exception {
        state(
                        service("data-svc", ProcessHandle.current(), "127.0.0.1:1"),
                        service("trainer-svc", ProcessHandle.current(), "127.0.0.1:1"),
                        service("sampler-svc", ProcessHandle.current(), "127.0.0.1:1"))
                .write();
        Run up = plaid("up", "--work-dir", work.toString());
        assertThat(up.exitCode()).as(up.toString()).isZero();
        assertThat(up.out()).startsWith("already up under " + work);
        assertThat(work.resolve("logs")).doesNotExist();
    }

    @Test
    void clientCommandsTakeTheRunningStacksAddressesUnlessGivenOthers() throws Exception {
        assumeTrue(System.getenv("PLAID_DATA_SVC") == null && System.getenv("PLAID_TRAINER_SVC") == null);
        Services services = new Services();
        services.workDir = work;
        assertThat(services.dataAddress()).isEqualTo("127.0.0.1:9101");
        assertThat(services.localStack()).isEmpty();

        state(service("data-svc", ProcessHandle.current(), "127.0.0.1:4001")).write();
        Services found = new Services();
        found.workDir = work;
        assertThat(found.dataAddress()).isEqualTo("127.0.0.1:4001");
        assertThat(found.localStack()).isPresent();

        Services given = new Services();
        given.workDir = work;
        given.data = "elsewhere:9101";
        assertThat(given.dataAddress()).isEqualTo("elsewhere:9101");
        assertThat(given.localStack()).isEmpty();
    }

    @Test
    void aStackWhoseServicesEndedIsNotUsed() throws Exception {
        assumeTrue(System.getenv("PLAID_DATA_SVC") == null);
        Process ended = start("true");
        ended.waitFor();
        state(new StackState.ServiceProcess("data-svc", "127.0.0.1:4001", ended.pid(), null))
                .write();
        Services services = new Services();
        services.workDir = work;
        assertThat(services.dataAddress()).isEqualTo("127.0.0.1:9101");
        assertThat(services.localStack()).isEmpty();
    }

    @Test
    void helpListsTheStackAndDataCommands() {
        Run help = plaid("--help");
        assertThat(help.out())
                .contains("up ")
                .contains("down ")
                .contains("status ")
                .contains("data ");
    }

    private StackState state(StackState.ServiceProcess... services) {
        return new StackState(
                work, work.resolve("data"), work.resolve("trainer"), work.resolve("logs"), List.of(services));
    }

    private static StackState.ServiceProcess service(String module, Process p) {
        return service(module, p.toHandle(), "127.0.0.1:1");
    }

    private static StackState.ServiceProcess service(String module, ProcessHandle p, String address) {
        return StackState.ServiceProcess.of(module, address, p);
    }

    private static String startedAt(Process p) {
        return p.toHandle().info().startInstant().orElseThrow().toString();
    }

    private Process start(String... command) throws Exception {
        Process p = new ProcessBuilder(command)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectErrorStream(true)
                .start();
        started.add(p);
        return p;
    }

    record Run(int exitCode, String out, String err) {
        List<String> lines() {
            return out.lines().toList();
        }
    }

    /** Runs the command in this JVM with System.out and System.err captured (the commands print through them). */
    static Run plaid(String... args) {
        PrintStream stdout = System.out, stderr = System.err;
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        try (var outStream = new PrintStream(out, true, UTF_8);
                var errStream = new PrintStream(err, true, UTF_8)) {
            System.setOut(outStream);
            System.setErr(errStream);
            CommandLine cl = PlaidCommand.commandLine();
            cl.setOut(new PrintWriter(outStream, true));
            cl.setErr(new PrintWriter(errStream, true));
            int code = cl.execute(args);
            cl.getOut().flush();
            cl.getErr().flush();
            return new Run(code, out.toString(UTF_8), err.toString(UTF_8));
        } finally {
            System.setOut(stdout);
            System.setErr(stderr);
        }
    }
}

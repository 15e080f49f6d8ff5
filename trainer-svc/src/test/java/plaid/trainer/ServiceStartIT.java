package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** How the packaged service starts, or refuses to: a blank auth token, the auth log line, an old Java. */
class ServiceStartIT {
    private static final Path JAR =
            Path.of(System.getProperty("plaid.trainer.jar", "target/quarkus-app/quarkus-run.jar"));
    private static final Path JAVA_17 = Path.of("/usr/lib/jvm/java-17-openjdk-amd64/bin/java");

    @Test
    void aBlankTokenIsRefusedAtStart() throws Exception {
        Run run = start(javaHere(), Map.of("PLAID_AUTH_TOKEN", ""), 120);
        assertThat(run.exited()).as(run.output()).isTrue();
        assertThat(run.exitCode()).isNotZero();
        assertThat(run.output()).contains("plaid.auth.token (env PLAID_AUTH_TOKEN) is set but blank");
    }

    @Test
    void theLogSaysWhetherAuthenticationIsOn() throws Exception {
        assertThat(startUntil(Map.of("PLAID_AUTH_TOKEN", "s3cret"), "gRPC authentication is on"))
                .doesNotContain("s3cret");
        assertThat(startUntil(Map.of(), "gRPC authentication is off")).isNotEmpty();
    }

    @Test
    void java17IsToldThatJava25IsNeeded() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(JAVA_17), "no Java 17 at " + JAVA_17);
        Run run = start(List.of(JAVA_17.toString()), Map.of(), 60);
        assertThat(run.exited()).isTrue();
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.output()).contains("This service needs Java 25 or newer; it was started with Java 17");
    }

    private record Run(boolean exited, int exitCode, String output) {}

    private static List<String> javaHere() {
        List<String> command = new ArrayList<>(
                List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(Arrays.asList(System.getProperty("plaid.jvm.flags", "").split("\\s+")));
        command.removeIf(String::isEmpty);
        return command;
    }

    private static ProcessBuilder builder(List<String> java, Map<String, String> env, Path root) throws IOException {
        List<String> command = new ArrayList<>(java);
        command.addAll(List.of(
                "-Dtrainer-svc.root=" + root,
                "-Dquarkus.http.port=0",
                "-jar",
                JAR.toAbsolutePath().toString()));
        ProcessBuilder builder = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(root.resolve("service.log").toFile());
        builder.environment().remove("PLAID_AUTH_TOKEN");
        builder.environment().putAll(env);
        return builder;
    }

    private static Run start(List<String> java, Map<String, String> env, int seconds) throws Exception {
        Path root = Files.createTempDirectory("plaid-trainer-start-it");
        Process p = builder(java, env, root).start();
        boolean exited = p.waitFor(seconds, TimeUnit.SECONDS);
        if (!exited) p.destroyForcibly().waitFor();
        return new Run(
                exited,
                exited ? p.exitValue() : -1,
                Files.readString(root.resolve("service.log"), StandardCharsets.UTF_8));
    }

    /** Starts the service, waits for {@code line} in its log, stops it; returns the log so far. */
    private static String startUntil(Map<String, String> env, String line) throws Exception {
        Path root = Files.createTempDirectory("plaid-trainer-start-it");
        Process p = builder(javaHere(), env, root).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (System.nanoTime() < deadline && p.isAlive()) {
                String log = Files.readString(root.resolve("service.log"), StandardCharsets.UTF_8);
                if (log.contains(line)) return log;
                Thread.sleep(250);
            }
            throw new AssertionError("no '" + line + "' in the log:\n" + Files.readString(root.resolve("service.log")));
        } finally {
            p.destroy();
            p.waitFor(30, TimeUnit.SECONDS);
        }
    }
}

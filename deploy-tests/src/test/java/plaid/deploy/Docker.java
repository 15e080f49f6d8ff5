package plaid.deploy;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The {@code docker} command line, as a user drives the stack. Testcontainers is not used: its
 * resource reaper (ryuk) is an image to pull, which a machine without a registry cannot, and
 * `docker compose` itself does all this test needs; each test removes what it started.
 */
final class Docker {
    static final Path REPO = Path.of("..").toAbsolutePath().normalize();

    /** What one command did. */
    record Result(int exitCode, String output) {
        boolean ok() {
            return exitCode == 0;
        }

        /** The last lines of the output, for a failure message. */
        String tail() {
            List<String> lines = output.lines().toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        }
    }

    private final Map<String, String> environment;

    /** Commands run with these variables added to this process' environment. */
    Docker(Map<String, String> environment) {
        this.environment = Map.copyOf(environment);
    }

    /** Runs {@code docker args...} in the repository root; stdout and stderr together. */
    Result run(Duration timeout, String... args) {
        List<String> command = new ArrayList<>(List.of("docker"));
        command.addAll(List.of(args));
        try {
            Path log = Files.createTempFile("docker", ".log");
            try {
                ProcessBuilder builder = new ProcessBuilder(command)
                        .directory(REPO.toFile())
                        .redirectErrorStream(true)
                        .redirectOutput(log.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
                builder.environment().putAll(environment);
                Process process = builder.start();
                if (!process.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor();
                    return new Result(
                            124,
                            Files.readString(log, UTF_8) + "\n(" + String.join(" ", command) + ": timed out after "
                                    + timeout + ")");
                }
                return new Result(process.exitValue(), Files.readString(log, UTF_8));
            } finally {
                Files.deleteIfExists(log);
            }
        } catch (IOException e) {
            return new Result(127, "cannot run " + String.join(" ", command) + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(130, "interrupted: " + String.join(" ", command));
        }
    }

    /** Like {@link #run}, failing the test with the command's output unless it succeeds. */
    String require(Duration timeout, String... args) {
        Result result = run(timeout, args);
        if (!result.ok())
            throw new AssertionError(
                    "docker " + String.join(" ", args) + " exited " + result.exitCode() + ":\n" + result.tail());
        return result.output();
    }

    /** Why no Docker engine can be used here, or empty when one answers. */
    Optional<String> engineMissing() {
        Result version = run(Duration.ofSeconds(30), "version", "--format", "{{.Server.Version}}");
        return version.ok()
                ? Optional.empty()
                : Optional.of("no Docker engine reachable (docker version: "
                        + version.output().strip() + ")");
    }

    /**
     * Why the tests of {@code what} must be skipped (no engine answers), or empty when an engine
     * does. Fails instead where the environment says the deploy tests must run
     * (PLAID_DEPLOY_TEST_REQUIRED=true, as .ci/run sets).
     */
    Optional<String> skipWithoutEngine(String what) {
        Optional<String> missing = engineMissing();
        if (missing.isEmpty()) return missing;
        String reason = missing.get() + ": " + what + " cannot run here";
        if ("true".equals(System.getenv("PLAID_DEPLOY_TEST_REQUIRED")))
            throw new AssertionError(reason + " (PLAID_DEPLOY_TEST_REQUIRED=true)");
        return Optional.of(reason);
    }

    /** An image name from the environment, or the real one compose defaults to. */
    static String baseImage(String variable, String real) {
        String image = System.getenv(variable);
        return image == null || image.isBlank() ? real : image;
    }

    /**
     * Fails at once, naming the image, unless the engine has it or pulls it within a minute;
     * without this, a build on a machine with no registry would retry its pulls for minutes.
     */
    void requireImage(String image, String hint) {
        if (run(Duration.ofSeconds(30), "image", "inspect", "--format", "{{.Id}}", image)
                .ok()) return;
        Result pull = run(Duration.ofMinutes(1), "pull", "--quiet", image);
        if (!pull.ok())
            throw new AssertionError("image " + image + " is not in the Docker engine and cannot be pulled ("
                    + pull.tail().strip() + "); " + hint);
    }
}

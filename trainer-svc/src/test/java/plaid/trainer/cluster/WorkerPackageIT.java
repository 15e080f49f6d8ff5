package plaid.trainer.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The worker starts from the packaged service (Quarkus' fast-jar layout, what the image holds
 * under /deployments) with the classpath workers.yaml gives it: its classes, gRPC, protobuf and
 * the counting runner load, and with no coordinator to reach it exits saying so.
 */
class WorkerPackageIT {
    private static final Path APP = Path.of(
                    System.getProperty("plaid.trainer.jar", "target/quarkus-app/quarkus-run.jar"))
            .toAbsolutePath()
            .getParent();

    @Test
    void theManifestsClasspathRunsTheWorkerFromThePackage() throws Exception {
        Map<String, Object> job = KubernetesManifestsTest.documents(KubernetesManifestsTest.DIR.resolve("workers.yaml"))
                .get("Job/plaid-workers-" + KubernetesManifestsTest.JOB_ID);
        @SuppressWarnings("unchecked")
        Map<String, Object> container = ((List<Map<String, Object>>) ((Map<String, Object>)
                                ((Map<String, Object>) ((Map<String, Object>) job.get("spec")).get("template"))
                                        .get("spec"))
                        .get("containers"))
                .getFirst();
        String command = String.join(
                " ",
                ((List<?>) container.get("command"))
                        .stream().map(Object::toString).toList());
        Matcher classpath = Pattern.compile("-cp \"([^\"]+)\"").matcher(command);
        assertThat(classpath.find()).as(command).isTrue();
        String local = classpath.group(1).replace("/deployments/", APP + "/");
        for (String entry : local.split(":"))
            assertThat(Path.of(entry.replace("/*", ""))).as(entry).isDirectory();

        Process worker = new ProcessBuilder(
                        ProcessHandle.current().info().command().orElse("java"),
                        "-cp",
                        local,
                        Worker.class.getName(),
                        "--coordinator",
                        "127.0.0.1:1",
                        "--job",
                        "j",
                        "--runner",
                        CountingRankRunner.NAME,
                        "--connect-timeout",
                        "2s")
                .redirectErrorStream(true)
                .start();
        String output = new String(worker.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(worker.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(worker.exitValue()).as(output).isEqualTo(Worker.UNREACHABLE);
        assertThat(output).contains("cannot join job j: UNAVAILABLE");
        assertThat(Files.isRegularFile(APP.resolve("quarkus-run.jar"))).isTrue();
    }
}

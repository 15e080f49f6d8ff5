package plaid.trainer.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/k8s's manifests against the Kubernetes API's schemas (types, enums, required fields),
 * offline: {@code deploy/k8s/schema/validate.mjs} with kubernetes-models' validators from npm,
 * installed by {@code npm ci --prefix deploy/k8s/schema} (.ci/run does, and sets
 * PLAID_K8S_SCHEMA_REQUIRED=true so that CI fails rather than skips without it).
 */
class KubernetesSchemaTest {
    private static final Path SCHEMA = KubernetesManifestsTest.DIR.resolve("schema");

    @BeforeAll
    static void requireValidator() {
        boolean installed = Files.isDirectory(SCHEMA.resolve("node_modules/kubernetes-models"));
        if (!installed && "true".equals(System.getenv("PLAID_K8S_SCHEMA_REQUIRED")))
            throw new AssertionError("no Kubernetes schema validator: run npm ci --prefix deploy/k8s/schema");
        assumeTrue(installed, "no Kubernetes schema validator (npm ci --prefix deploy/k8s/schema); skipped");
    }

    @Test
    void everyObjectOfTheManifestsIsValid() throws Exception {
        Result result = validate(
                KubernetesManifestsTest.DIR.resolve("coordinator.yaml"),
                KubernetesManifestsTest.DIR.resolve("workers.yaml"));
        assertThat(result.status()).as(String.join("\n", result.lines())).isZero();
        assertThat(result.lines())
                .hasSize(5)
                .allMatch(line -> line.endsWith(": valid"))
                .anyMatch(line -> line.contains("batch/v1 Job plaid-workers-"))
                .anyMatch(line -> line.contains("apps/v1 Deployment trainer-svc"));
    }

    /** The validator does refuse: a wrong type and a value outside an enum. */
    @Test
    void aBrokenManifestIsRefusedNamingTheField(@TempDir Path dir) throws Exception {
        Path broken = dir.resolve("workers.yaml");
        Files.writeString(
                broken,
                Files.readString(KubernetesManifestsTest.DIR.resolve("workers.yaml"))
                        .replace("restartPolicy: Never", "restartPolicy: Sometimes")
                        .replace("parallelism: 2", "parallelism: two"));
        Result result = validate(broken);
        assertThat(result.status()).isEqualTo(1);
        assertThat(String.join("\n", result.lines()))
                .contains("data/spec/parallelism must be integer")
                .contains("data/spec/template/spec/restartPolicy must be equal to one of the allowed values");
    }

    private record Result(int status, List<String> lines) {}

    private static Result validate(Path... files) throws IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>(
                List.of("node", SCHEMA.resolve("validate.mjs").toString()));
        for (Path file : files) command.add(file.toString());
        Process node = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(node.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(node.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Result(node.exitValue(), output.lines().toList());
    }
}

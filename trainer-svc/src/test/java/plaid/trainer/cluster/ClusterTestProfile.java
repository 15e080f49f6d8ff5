package plaid.trainer.cluster;

import io.quarkus.test.junit.QuarkusTestProfile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** trainer-svc as the coordinator of two-worker jobs, with short timeouts so failures show in seconds. */
public class ClusterTestProfile implements QuarkusTestProfile {
    static final Path RUN_ROOT = createRunRoot();
    static final int WORKERS = 2, MAX_RESTARTS = 1;
    static final int JOIN_TIMEOUT_SECONDS = 15, HEARTBEAT_TIMEOUT_SECONDS = 3;

    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of(
                "trainer-svc.root",
                RUN_ROOT.toString(),
                "trainer-svc.demo-documents",
                "100",
                "trainer-svc.cluster.workers",
                Integer.toString(WORKERS),
                "trainer-svc.cluster.join-timeout",
                JOIN_TIMEOUT_SECONDS + "s",
                "trainer-svc.cluster.heartbeat-interval",
                "200ms",
                "trainer-svc.cluster.heartbeat-timeout",
                HEARTBEAT_TIMEOUT_SECONDS + "s",
                "trainer-svc.cluster.max-restarts",
                Integer.toString(MAX_RESTARTS));
    }

    private static Path createRunRoot() {
        try {
            return Files.createTempDirectory("plaid-cluster-test");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

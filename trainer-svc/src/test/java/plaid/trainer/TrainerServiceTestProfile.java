package plaid.trainer;

import io.quarkus.test.junit.QuarkusTestProfile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** A fresh run root (with its H2 database) and corpus root per test run, and a small demo corpus and shuffle buffer so jobs start fast. */
public class TrainerServiceTestProfile implements QuarkusTestProfile {
    static final Path RUN_ROOT = createRunRoot();
    /** data-svc's root as the trainer sees it: elsewhere than the run root, as `plaid up` lays them out. */
    static final Path CORPUS_ROOT = RUN_ROOT.resolveSibling(RUN_ROOT.getFileName() + "-data");

    @Override
    public Map<String, String> getConfigOverrides() {
        Map<String, String> overrides = new HashMap<>();
        overrides.put("trainer-svc.root", RUN_ROOT.toString());
        overrides.put("trainer-svc.demo-documents", "100");
        overrides.put("trainer-svc.shuffle-buffer-chunks", "64");
        overrides.put("trainer-svc.corpus-root", CORPUS_ROOT.toString());
        return overrides;
    }

    private static Path createRunRoot() {
        try {
            return Files.createTempDirectory("plaid-trainer-svc-test");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

package plaid.data;

import io.quarkus.test.junit.QuarkusTestProfile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** A fresh data root per test run, the shared OWT2 tokenizer, and quick progress reports. */
public class DataServiceTestProfile implements QuarkusTestProfile {
    static final Path DATA_ROOT = createDataRoot();
    /** The OWT2 tokenizer is not distributable; it comes from -Dplaid.data (the root pom sets it) when present. */
    static final Path TOKENIZER = Path.of(System.getProperty("plaid.data", "absent"))
            .resolve("owt2_tokenizer.json")
            .toAbsolutePath();

    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of(
                "data-svc.root",
                DATA_ROOT.toString(),
                "data-svc.tokenizer",
                TOKENIZER.toString(),
                "data-svc.prepare-progress-interval",
                "20ms",
                "data-svc.default-shuffle-buffer-chunks",
                "64");
    }

    private static Path createDataRoot() {
        try {
            return Files.createTempDirectory("plaid-data-svc-test");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

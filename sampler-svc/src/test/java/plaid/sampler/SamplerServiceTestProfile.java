package plaid.sampler;

import io.quarkus.test.junit.QuarkusTestProfile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A fresh model root per test run holding a tiny trained model, the CPU backend, a short
 * queue, a small batch budget, and a step limit high enough for a run
 * that lasts until it is cancelled.
 */
public class SamplerServiceTestProfile implements QuarkusTestProfile {
    static final Path MODEL_ROOT = createModelRoot();
    /** The OWT2 tokenizer for the original's fixture models; it comes from -Dplaid.data when present. */
    static final Path OWT2_TOKENIZER = Path.of(System.getProperty("plaid.data", "absent"))
            .resolve("owt2_tokenizer.json")
            .toAbsolutePath();

    static final int QUEUE_CAPACITY = 2;
    static final int MAX_SAMPLES = 8;
    static final int MAX_STEPS = 10_000_000;
    static final int MAX_SCORE_DRAWS = 64;
    /** Each model's row budget: 12 rows of 8 tokens, or 6 of 16. */
    static final int BATCH_TOKENS = 96;

    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of(
                "sampler-svc.model-root",
                MODEL_ROOT.toString(),
                "sampler-svc.tokenizer",
                OWT2_TOKENIZER.toString(),
                "sampler-svc.backend",
                "cpu",
                "sampler-svc.limits.max-models",
                "16",
                "sampler-svc.limits.queue-capacity",
                Integer.toString(QUEUE_CAPACITY),
                "sampler-svc.limits.max-samples",
                Integer.toString(MAX_SAMPLES),
                "sampler-svc.limits.max-steps",
                Integer.toString(MAX_STEPS),
                "sampler-svc.limits.max-score-draws",
                Integer.toString(MAX_SCORE_DRAWS),
                "sampler-svc.batching.max-batch-tokens",
                Integer.toString(BATCH_TOKENS));
    }

    private static Path createModelRoot() {
        try {
            return Files.createTempDirectory("plaid-sampler-svc-test");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

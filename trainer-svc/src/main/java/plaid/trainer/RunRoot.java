package plaid.trainer;

import jakarta.enterprise.context.ApplicationScoped;
import plaid.service.ConfinedRoot;

import java.nio.file.Path;

/** The configured run root, where each job's files live, and the only way requests reach files. */
@ApplicationScoped
public class RunRoot {
    private final ConfinedRoot root;

    RunRoot(TrainerServiceConfig config) {
        this.root = new ConfinedRoot(config.root(), "run root");
    }

    public Path path() {
        return root.path();
    }

    /** Everything of job {@code jobId}: its corpus split, tokenizer and checkpoints. */
    public Path job(String jobId) {
        return root.path().resolve("jobs").resolve(jobId);
    }

    public Path checkpoint(String jobId, int step) {
        return job(jobId).resolve("checkpoints").resolve("step-" + step);
    }

    /** How responses name a file: relative to the root, '/'-separated. */
    public String relative(Path file) {
        return root.relative(file);
    }

    /**
     * A request's relative path, resolved under the root. Absolute paths, {@code ..} that
     * climbs out, and symbolic links that lead out are refused as an invalid {@code field}.
     */
    public Path resolve(String relative, String field) {
        return root.resolve(relative, field);
    }
}

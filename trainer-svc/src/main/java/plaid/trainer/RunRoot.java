package plaid.trainer;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.nio.file.Path;
import plaid.model.CheckpointDirectory;
import plaid.service.ConfinedRoot;
import plaid.service.InvalidArgument;

/** The configured run root, where each job's files live, and the only way requests reach files. */
@ApplicationScoped
public class RunRoot {
    static final String MODEL_SAVE_PATH = "spec.reporting.model_save_path";
    private final ConfinedRoot root;
    private final Path corpusRoot;

    @Inject
    RunRoot(TrainerServiceConfig config) {
        this(config.root(), config.corpusRoot());
    }

    /** The root a cluster worker was given (--root), and the corpus root relative to it. */
    RunRoot(Path root, Path corpusRoot) {
        this.root = new ConfinedRoot(root, "run root");
        this.corpusRoot = this.root.path().resolve(corpusRoot).normalize();
    }

    /** data-svc's root (trainer-svc.corpus-root): its corpora and zero-shot raw files, read only. */
    public Path corpusRoot() {
        return corpusRoot;
    }

    public Path path() {
        return root.path();
    }

    /** Everything of job {@code jobId}: its corpus split, tokenizer and checkpoints. */
    public Path job(String jobId) {
        return root.path().resolve("jobs").resolve(jobId);
    }

    /** The job's checkpoint of {@code step}: under the spec's model_save_path (null: none), else jobs/<id>/checkpoints. */
    public Path checkpoint(String jobId, String modelSavePath, int step) {
        return (modelSavePath == null ? job(jobId).resolve("checkpoints") : savePath(modelSavePath))
                .resolve(CheckpointDirectory.stepFolder(step));
    }

    /** A spec's model_save_path under the root; INVALID_ARGUMENT naming the field when it leads out or into jobs/. */
    public Path savePath(String modelSavePath) {
        Path dir = resolve(modelSavePath, MODEL_SAVE_PATH);
        InvalidArgument.require(
                !dir.startsWith(root.path().resolve("jobs")) && !dir.equals(root.path()),
                MODEL_SAVE_PATH,
                "must name a folder under the run root outside jobs/ (the service's own), got '" + modelSavePath + "'");
        return dir;
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

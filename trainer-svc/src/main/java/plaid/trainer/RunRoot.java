package plaid.trainer;

import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/** The configured run root, where each job's files live, and the only way requests reach files. */
@ApplicationScoped
public class RunRoot {
    private final Path root;

    RunRoot(TrainerServiceConfig config) {
        try {
            this.root = Files.createDirectories(config.root().toAbsolutePath().normalize()).toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the run root " + config.root(), e);
        }
    }

    public Path path() {
        return root;
    }

    /** Everything of job {@code jobId}: its corpus split, tokenizer and checkpoints. */
    public Path job(String jobId) {
        return root.resolve("jobs").resolve(jobId);
    }

    public Path checkpoint(String jobId, int step) {
        return job(jobId).resolve("checkpoints").resolve("step-" + step);
    }

    /** How responses name a file: relative to the root, '/'-separated. */
    public String relative(Path file) {
        return root.relativize(file).toString().replace(file.getFileSystem().getSeparator(), "/");
    }

    /**
     * A request's relative path, resolved under the root. Absolute paths, {@code ..} that
     * climbs out, and symbolic links that lead out are refused as an invalid {@code field}.
     */
    public Path resolve(String relative, String field) {
        InvalidArgument.require(!relative.isBlank(), field, "must not be empty");
        Path requested;
        try {
            requested = Path.of(relative);
        } catch (InvalidPathException e) {
            throw InvalidArgument.of(field, "is not a path: " + e.getReason());
        }
        InvalidArgument.require(!requested.isAbsolute(), field, "must be relative to the run root, got an absolute path");
        Path resolved = root.resolve(requested).normalize();
        InvalidArgument.require(resolved.startsWith(root), field, "must stay inside the run root");
        if (Files.exists(resolved)) {
            try {
                InvalidArgument.require(resolved.toRealPath().startsWith(root), field, "leads outside the run root through a link");
            } catch (IOException e) {
                throw Status.INTERNAL.withDescription("cannot resolve " + field).withCause(e).asRuntimeException();
            }
        }
        return resolved;
    }
}

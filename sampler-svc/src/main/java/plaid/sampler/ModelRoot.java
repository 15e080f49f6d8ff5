package plaid.sampler;

import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/** The configured model root: the only folder whose checkpoints requests can load. */
@ApplicationScoped
public class ModelRoot {
    private final Path root;

    ModelRoot(SamplerServiceConfig config) {
        try {
            this.root = Files.createDirectories(config.modelRoot().toAbsolutePath().normalize()).toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the model root " + config.modelRoot(), e);
        }
    }

    public Path path() {
        return root;
    }

    /**
     * A request's relative path, resolved under the root to its real location. Absolute
     * paths, {@code ..} that climbs out and links that lead out are refused as an invalid
     * {@code field}; a path that does not exist is NOT_FOUND.
     */
    public Path resolveExisting(String relative, String field) {
        InvalidArgument.require(!relative.isBlank(), field, "must not be empty");
        Path requested;
        try {
            requested = Path.of(relative);
        } catch (InvalidPathException e) {
            throw InvalidArgument.of(field, "is not a path: " + e.getReason());
        }
        InvalidArgument.require(!requested.isAbsolute(), field, "must be relative to the model root, got an absolute path");
        Path resolved = root.resolve(requested).normalize();
        InvalidArgument.require(resolved.startsWith(root), field, "must stay inside the model root");
        if (!Files.exists(resolved))
            throw Status.NOT_FOUND.withDescription(field + " '" + relative + "' does not exist under the model root").asRuntimeException();
        Path real;
        try {
            real = resolved.toRealPath();
        } catch (IOException e) {
            throw Status.INTERNAL.withDescription("cannot resolve " + field).withCause(e).asRuntimeException();
        }
        InvalidArgument.require(real.startsWith(root), field, "leads outside the model root through a link");
        return real;
    }
}

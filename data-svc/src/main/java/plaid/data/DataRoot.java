package plaid.data;

import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * The configured data root and the only ways requests reach files: a relative path that
 * stays inside it, or a corpus name that cannot contain a path at all.
 */
@ApplicationScoped
public class DataRoot {
    private static final Pattern CORPUS_NAME = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}");

    private final Path root;

    DataRoot(DataServiceConfig config) {
        try {
            this.root = Files.createDirectories(config.root().toAbsolutePath().normalize()).toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the data root " + config.root(), e);
        }
    }

    public Path path() {
        return root;
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
        InvalidArgument.require(!requested.isAbsolute(), field, "must be relative to the data root, got an absolute path");
        Path resolved = root.resolve(requested).normalize();
        InvalidArgument.require(resolved.startsWith(root), field, "must stay inside the data root");
        if (Files.exists(resolved)) {
            try {
                InvalidArgument.require(resolved.toRealPath().startsWith(root), field, "leads outside the data root through a link");
            } catch (IOException e) {
                throw Status.INTERNAL.withDescription("cannot resolve " + field).withCause(e).asRuntimeException();
            }
        }
        return resolved;
    }

    /** Where training corpora live. */
    public Path corpora() {
        return root.resolve("corpora");
    }

    /** The folder of corpus {@code name}, after checking that the name is a plain name. */
    public Path corpus(String name, String field) {
        InvalidArgument.require(CORPUS_NAME.matcher(name).matches(), field,
                "must be 1-64 characters of [A-Za-z0-9._-] not starting with '.', got '" + name + "'");
        return corpora().resolve(name);
    }
}

package plaid.service;

import io.grpc.Status;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * A configured folder that requests reach only from inside: a request names a file by a
 * relative path, and absolute paths, {@code ..} that climbs out and symbolic links that lead
 * out are refused as an invalid field. Each service wraps one (data, run or model root).
 */
public final class ConfinedRoot {
    private final Path root;
    private final String name;

    /** Creates {@code configured} when missing; {@code name} ("data root") is how refusals call it. */
    public ConfinedRoot(Path configured, String name) {
        this.name = name;
        try {
            // The real path, so that a link check compares like with like even when the root itself is reached through
            // a link.
            this.root = Files.createDirectories(configured.toAbsolutePath().normalize())
                    .toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the " + name + " " + configured, e);
        }
    }

    public Path path() {
        return root;
    }

    /**
     * A request's relative path resolved under the root; it need not exist, but its deepest
     * existing part may not lead out through a link (else writing there would land outside).
     */
    public Path resolve(String relative, String field) {
        Path resolved = inside(relative, field);
        Path existing = resolved;
        while (!Files.exists(existing)) existing = existing.getParent();
        realInside(existing, field);
        return resolved;
    }

    /** A request's relative path resolved under the root to its real location; NOT_FOUND when it does not exist. */
    public Path resolveExisting(String relative, String field) {
        Path resolved = inside(relative, field);
        if (!Files.exists(resolved))
            throw Status.NOT_FOUND
                    .withDescription(field + " '" + relative + "' does not exist under the " + name)
                    .asRuntimeException();
        return realInside(resolved, field);
    }

    /** How responses name a file: relative to the root, '/'-separated. */
    public String relative(Path file) {
        return root.relativize(file).toString().replace(file.getFileSystem().getSeparator(), "/");
    }

    /** The lexical checks: relative, and still under the root once {@code ..} is folded. */
    private Path inside(String relative, String field) {
        InvalidArgument.require(!relative.isBlank(), field, "must not be empty");
        Path requested;
        try {
            requested = Path.of(relative);
        } catch (InvalidPathException e) {
            throw InvalidArgument.of(field, "is not a path: " + e.getReason());
        }
        InvalidArgument.require(
                !requested.isAbsolute(), field, "must be relative to the " + name + ", got an absolute path");
        Path resolved = root.resolve(requested).normalize();
        InvalidArgument.require(resolved.startsWith(root), field, "must stay inside the " + name);
        return resolved;
    }

    /** The existing {@code resolved}'s real path, refused when a link takes it outside the root. */
    private Path realInside(Path resolved, String field) {
        Path real;
        try {
            real = resolved.toRealPath();
        } catch (IOException e) {
            throw Status.INTERNAL
                    .withDescription("cannot resolve " + field)
                    .withCause(e)
                    .asRuntimeException();
        }
        InvalidArgument.require(real.startsWith(root), field, "leads outside the " + name + " through a link");
        return real;
    }
}

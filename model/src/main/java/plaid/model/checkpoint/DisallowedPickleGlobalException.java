package plaid.model.checkpoint;

import java.nio.file.Path;

/**
 * A pickle asked for a Python global outside the allow-list: the sign of a file that is not a
 * plain state dict, possibly a malicious one. Loading stops before anything else is read.
 */
public final class DisallowedPickleGlobalException extends CheckpointFormatException {
    private final String global;

    public DisallowedPickleGlobalException(Path file, String global) {
        super(file, "disallowed pickle global " + global + " (only state dicts of tensors can be loaded)");
        this.global = global;
    }

    /** The refused global as {@code module.name}, e.g. {@code os.system}. */
    public String global() {
        return global;
    }
}

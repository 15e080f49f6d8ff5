package plaid.model.checkpoint;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A checkpoint file that cannot be read as the format it claims: truncated, corrupt, or
 * holding something other than tensors. An {@link IOException} so callers handle it together
 * with the file system's own failures; the message names the file and the problem.
 */
public class CheckpointFormatException extends IOException {
    public CheckpointFormatException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public CheckpointFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}

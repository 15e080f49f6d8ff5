package plaid.model.checkpoint;

/**
 * A pickle's content does not make sense: thrown by the unpickler's allow-listed callables
 * and persistent loader, which know the problem but not the file or byte position that
 * {@link RestrictedUnpickler} adds when it turns this into a {@link CheckpointFormatException}.
 */
final class PickleException extends Exception {
    PickleException(String problem) {
        super(problem);
    }
}

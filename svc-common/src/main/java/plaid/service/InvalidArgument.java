package plaid.service;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** The services' one way of refusing a request: INVALID_ARGUMENT with a message that starts with the field. */
public final class InvalidArgument {
    private InvalidArgument() {}

    public static StatusRuntimeException of(String field, String problem) {
        return Status.INVALID_ARGUMENT.withDescription(field + " " + problem).asRuntimeException();
    }

    /** Throws {@link #of} unless {@code holds}. */
    public static void require(boolean holds, String field, String problem) {
        if (!holds) throw of(field, problem);
    }

    /** Throws unless {@code min <= value <= max}. */
    public static void requireInRange(long value, long min, long max, String field) {
        require(value >= min && value <= max, field, "must be in [" + min + ", " + max + "], got " + value);
    }
}

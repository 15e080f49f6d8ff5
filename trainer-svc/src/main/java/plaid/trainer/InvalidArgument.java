package plaid.trainer;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** The service's one way of refusing a request: INVALID_ARGUMENT with a message that starts with the field. */
final class InvalidArgument {
    private InvalidArgument() {}

    static StatusRuntimeException of(String field, String problem) {
        return Status.INVALID_ARGUMENT.withDescription(field + " " + problem).asRuntimeException();
    }

    /** Throws {@link #of} unless {@code holds}. */
    static void require(boolean holds, String field, String problem) {
        if (!holds) throw of(field, problem);
    }

    static StatusRuntimeException notFound(String what) {
        return Status.NOT_FOUND.withDescription(what).asRuntimeException();
    }
}

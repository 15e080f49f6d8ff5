package plaid.data;

import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/**
 * Whether a call's work should go on: not if the client cancelled, its deadline passed, or
 * the service is shutting down. Long loops ask {@link #check} between units of work.
 */
final class CallWatch {
    private final Context context;
    private final BooleanSupplier serviceStopping;

    CallWatch(Context context, BooleanSupplier serviceStopping) {
        this.context = context;
        this.serviceStopping = serviceStopping;
    }

    /** Ends the work with CANCELLED, DEADLINE_EXCEEDED or UNAVAILABLE if it should stop. */
    void check() {
        if (serviceStopping.getAsBoolean())
            throw Status.UNAVAILABLE
                    .withDescription("data-svc is shutting down; try again")
                    .asRuntimeException();
        Deadline deadline = context.getDeadline();
        if ((deadline != null && deadline.isExpired()) || context.cancellationCause() instanceof TimeoutException)
            throw Status.DEADLINE_EXCEEDED
                    .withDescription("the call's deadline passed")
                    .asRuntimeException();
        if (context.isCancelled())
            throw Status.CANCELLED
                    .withDescription("the client cancelled the call")
                    .asRuntimeException();
    }
}

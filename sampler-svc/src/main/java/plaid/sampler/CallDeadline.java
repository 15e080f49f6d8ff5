package plaid.sampler;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.concurrent.TimeUnit;

/**
 * The deadline a client sent (its {@code grpc-timeout} header), for the service to tell a call
 * that expired from one that was cancelled: gRPC on the HTTP server does not carry the deadline
 * into the call's Context, which the blocking service methods see.
 */
@GlobalInterceptor
@ApplicationScoped
@Priority(Integer.MAX_VALUE) // before the interceptor that moves the call to a worker thread, which keeps the Context
public class CallDeadline implements ServerInterceptor {
    static final Context.Key<Deadline> DEADLINE = Context.key("plaid-call-deadline");
    private static final Metadata.Key<String> TIMEOUT =
            Metadata.Key.of("grpc-timeout", Metadata.ASCII_STRING_MARSHALLER);

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        Deadline deadline = parse(headers.get(TIMEOUT));
        if (deadline == null) return next.startCall(call, headers);
        return Contexts.interceptCall(Context.current().withValue(DEADLINE, deadline), call, headers, next);
    }

    /** grpc-timeout: up to 8 digits and a unit, H M S m u n. */
    static Deadline parse(String timeout) {
        if (timeout == null || timeout.length() < 2 || timeout.length() > 9) return null;
        long value;
        try {
            value = Long.parseLong(timeout.substring(0, timeout.length() - 1));
        } catch (NumberFormatException e) {
            return null;
        }
        TimeUnit unit = switch (timeout.charAt(timeout.length() - 1)) {
            case 'H' -> TimeUnit.HOURS;
            case 'M' -> TimeUnit.MINUTES;
            case 'S' -> TimeUnit.SECONDS;
            case 'm' -> TimeUnit.MILLISECONDS;
            case 'u' -> TimeUnit.MICROSECONDS;
            case 'n' -> TimeUnit.NANOSECONDS;
            default -> null;
        };
        return unit == null || value < 0 ? null : Deadline.after(value, unit);
    }
}

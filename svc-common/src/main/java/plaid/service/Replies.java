package plaid.service;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.Callable;
import org.jboss.logging.Logger;

/**
 * How the services end calls: a refusal keeps its status, anything else is a bug, logged and
 * answered INTERNAL; Errors too (an OutOfMemoryError of one call must not leave it unanswered
 * or answered UNKNOWN, unlogged).
 */
public final class Replies {
    private static final Logger LOG = Logger.getLogger(Replies.class);

    private Replies() {}

    /** Answers a unary call with {@code answer}'s value, or ends it with {@link #status}. */
    public static <T> void reply(StreamObserver<T> response, Callable<T> answer) {
        T value;
        try {
            value = answer.call();
        } catch (Throwable e) {
            response.onError(status(e));
            return;
        }
        response.onNext(value);
        response.onCompleted();
    }

    /** Starts a streaming call; a refusal before the first message ends the call with its status. */
    public static void start(StreamObserver<?> response, Runnable checksAndStart) {
        try {
            checksAndStart.run();
        } catch (Throwable e) {
            response.onError(status(e));
        }
    }

    public static StatusRuntimeException status(Throwable e) {
        if (e instanceof StatusRuntimeException refusal) return refusal;
        LOG.error("request failed", e);
        return Status.INTERNAL.withDescription(e.toString()).asRuntimeException();
    }
}

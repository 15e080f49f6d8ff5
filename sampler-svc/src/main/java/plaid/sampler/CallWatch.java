package plaid.sampler;

import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.TimeUnit;

/**
 * Whether the client still waits for a call that the device thread works on: it may have
 * cancelled, or its deadline passed. Made on the call's own thread, where gRPC lets the
 * cancel handler be set and where the call's Context is current.
 */
final class CallWatch {
    private final Context context = Context.current();
    /** The client's deadline, from its header ({@link CallDeadline}); null without one. */
    private final Deadline deadline = CallDeadline.DEADLINE.get(context);

    private static final long DEADLINE_SLACK_MILLIS = 250;
    private volatile boolean cancelled;

    CallWatch(StreamObserver<?> response) {
        // With a handler set, messages sent after cancellation are dropped instead of failing.
        ((ServerCallStreamObserver<?>) response).setOnCancelHandler(() -> cancelled = true);
    }

    boolean clientLeft() {
        return cancelled || context.isCancelled();
    }

    /** Why the client left: its deadline passed, or it cancelled; null while it waits. */
    GenerationSink.FinishReason reason() {
        if (!clientLeft()) return null;
        // The client's clock started before the call reached us: its cancel at the deadline comes a moment before ours
        // expires.
        return deadline != null && deadline.timeRemaining(TimeUnit.MILLISECONDS) < DEADLINE_SLACK_MILLIS
                ? GenerationSink.FinishReason.DEADLINE
                : GenerationSink.FinishReason.CANCELLED;
    }

    void stopIfClientLeft() {
        if (clientLeft()) throw new ClientLeft();
    }

    /** Thrown from inside a run to stop it once the client has left. */
    static final class ClientLeft extends RuntimeException {
        ClientLeft() {
            super("the client cancelled the call or its deadline passed", null, false, false);
        }
    }
}

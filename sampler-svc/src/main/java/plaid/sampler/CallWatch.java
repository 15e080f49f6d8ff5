package plaid.sampler;

import io.grpc.Context;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/**
 * Whether the client still waits for a call that the device thread works on: it may have
 * cancelled, or its deadline passed. Made on the call's own thread, where gRPC lets the
 * cancel handler be set and where the call's Context is current.
 */
final class CallWatch {
    private final Context context = Context.current();
    private volatile boolean cancelled;

    CallWatch(StreamObserver<?> response) {
        // With a handler set, messages sent after cancellation are dropped instead of failing.
        ((ServerCallStreamObserver<?>) response).setOnCancelHandler(() -> cancelled = true);
    }

    boolean clientLeft() {
        return cancelled || context.isCancelled();
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

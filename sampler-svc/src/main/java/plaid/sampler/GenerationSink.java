package plaid.sampler;

import io.grpc.StatusRuntimeException;
import java.util.List;

/**
 * Where one generation's events go (a gRPC stream, an HTTP response): called in order, one at a
 * time, on the scheduler's event threads (not the device thread), and never after {@link #result} or
 * {@link #fail}; {@link #left} is polled from the device thread.
 */
interface GenerationSink {
    void progress(int step, int steps, double elapsedSeconds);

    /** The argmax of the model's logits after {@code step} (texts empty for a model without a tokenizer). */
    void partial(int step, int[][] tokens, List<String> texts);

    void result(int[][] tokens, List<String> texts, double elapsedSeconds);

    void fail(StatusRuntimeException error);

    /** Why the client stopped waiting ({@link FinishReason#CANCELLED} or {@link FinishReason#DEADLINE}), or null while it waits. */
    FinishReason left();

    /** How a request left the running batch; the label of the finished-requests metric. */
    enum FinishReason {
        DONE,
        CANCELLED,
        DEADLINE,
        ERROR;

        String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }
}

package plaid.backend;

/**
 * One step of work queued again and again the same way: the same ops on the same tensors, only the values
 * it uploads or passes as host arrays changing (the sampler's denoiser call each step). A backend may record
 * the step's device work once and replay the recording ({@link ComputeBackend#stepGraph()}: CUDA graphs),
 * which saves the host the launching of every op.
 *
 * <p>The body must only queue work: nothing in it may read a tensor back to the host, and it must not rely on
 * when the work runs. It may run twice in one {@link #run}, so its host side effects must be ones a second run
 * repeats harmlessly: a backend that finds its recording stale runs the body again directly.
 */
@FunctionalInterface
public interface StepGraph {
    /** Queues {@code body}'s work, recorded or replayed where the backend does that. */
    void run(Runnable body);

    /** How many runs replayed a recording (0 where the backend runs every body directly). */
    default long replays() {
        return 0;
    }

    /**
     * Why the latest recording failed or went stale, so that the body ran directly (on CUDA: the first operation
     * that broke the capture); empty where none did.
     */
    default java.util.Optional<String> lastFallback() {
        return java.util.Optional.empty();
    }

    /** A step graph that runs each body directly: what a backend without recordings gives. */
    static StepGraph direct() {
        return Runnable::run;
    }
}

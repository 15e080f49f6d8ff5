package plaid.sampler;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import plaid.model.sampling.NoiseSource;
import plaid.model.sampling.SamplerBatch;
import plaid.model.sampling.SamplingRequest;
import plaid.model.sampling.Trajectory;

/**
 * One checked Generate request on its way through the engine: its settings, where its events
 * go, and once it runs, its trajectory. Its rows share its settings and join and leave the
 * running batch together.
 */
final class GenerationJob {
    final LoadedModel model;
    final SamplingRequest sampling;
    final long seed;
    final int progressEvery;
    /** 0: no partial decodes. */
    final int partialEvery;

    final boolean skipSpecialTokens;
    final GenerationSink sink;
    final long arrivalNanos = System.nanoTime();
    private long startNanos;
    private Trajectory trajectory;
    private boolean firstEventSent;
    private int[][] pendingPartial;
    private int pendingPartialStep;
    /** Where its events are sent from (the scheduler's event threads once submitted); {@link #events} orders them. */
    private Executor eventThreads = Runnable::run;
    /** Its latest event: the next runs after it. */
    private CompletableFuture<Void> events = CompletableFuture.completedFuture(null);

    GenerationJob(
            LoadedModel model,
            SamplingRequest sampling,
            long seed,
            int progressEvery,
            int partialEvery,
            boolean skipSpecialTokens,
            GenerationSink sink) {
        this.model = model;
        this.sampling = sampling;
        this.seed = seed;
        this.progressEvery = progressEvery;
        this.partialEvery = partialEvery;
        this.skipSpecialTokens = skipSpecialTokens;
        this.sink = sink;
    }

    /** What it takes of the model's row budget: rows × seq_len. */
    long tokens() {
        return (long) sampling.samples() * sampling.seqLen();
    }

    int rows() {
        return sampling.samples();
    }

    Trajectory trajectory() {
        return trajectory;
    }

    /** Starts its trajectory in {@code batch}: from here on its rows are stepped with the others'. */
    void begin(SamplerBatch batch) {
        startNanos = System.nanoTime();
        trajectory = partialEvery == 0
                ? batch.start(sampling, NoiseSource.seeded(seed), 0, null)
                : batch.start(sampling, NoiseSource.seeded(seed), partialEvery, (step, tokens) -> {
                    pendingPartial = tokens;
                    pendingPartialStep = step;
                });
    }

    /** Sends its events on {@code threads} from now on. */
    void sendEventsOn(Executor threads) {
        eventThreads = threads;
    }

    /**
     * Hands {@code event} (a call of the sink) to the event threads, after this request's earlier events: the
     * device thread goes on stepping while texts are detokenized and sent. Once one fails (its client's stream
     * broke) the later ones are dropped and {@link #eventsFailed} says so.
     */
    void send(Runnable event) {
        events = events.thenRunAsync(event, eventThreads);
    }

    /** Hands {@code onFailure} why sending an event failed, once the events sent so far are through. */
    void afterEvents(Consumer<Throwable> onFailure) {
        events.whenComplete((done, failure) -> {
            if (failure != null) onFailure.accept(failure);
        });
    }

    /** Why sending one of its events failed, or null. */
    Throwable eventsFailed() {
        return events.isCompletedExceptionally() ? events.exceptionNow() : null;
    }

    /**
     * Queues what the latest step gave for sending ({@link #send}): progress, then a partial decode, or at the
     * end the texts; the detokenizing happens there too.
     * @return the nanoseconds from arrival to its first partial decode (or texts) when this step gave it, else −1
     */
    long afterStep() {
        int done = trajectory.stepsDone(), steps = sampling.steps();
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        long first = firstEventSent ? -1 : System.nanoTime() - arrivalNanos;
        if (trajectory.finished()) {
            int[][] tokens = trajectory.result();
            send(() -> {
                if (steps % progressEvery != 0) sink.progress(steps, steps, elapsed);
                sink.result(tokens, model.decode(tokens, skipSpecialTokens), elapsed);
            });
            firstEventSent = true;
            return first;
        }
        if (done % progressEvery == 0) send(() -> sink.progress(done, steps, elapsed));
        if (pendingPartial != null) {
            int[][] tokens = pendingPartial;
            int step = pendingPartialStep;
            send(() -> sink.partial(step, tokens, model.decode(tokens, skipSpecialTokens)));
            pendingPartial = null;
            firstEventSent = true;
            return first;
        }
        return -1;
    }
}

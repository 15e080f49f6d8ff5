package plaid.sampler;

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

    /**
     * Sends what the latest step gave: progress, then a partial decode, or at the end the texts.
     * @return the nanoseconds from arrival to its first partial decode (or texts) when this step gave it, else −1
     */
    long afterStep() {
        int done = trajectory.stepsDone(), steps = sampling.steps();
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        long first = firstEventSent ? -1 : System.nanoTime() - arrivalNanos;
        if (trajectory.finished()) {
            if (steps % progressEvery != 0) sink.progress(steps, steps, elapsed);
            int[][] tokens = trajectory.result();
            sink.result(tokens, model.decode(tokens, skipSpecialTokens), elapsed);
            firstEventSent = true;
            return first;
        }
        if (done % progressEvery == 0) sink.progress(done, steps, elapsed);
        if (pendingPartial != null) {
            sink.partial(pendingPartialStep, pendingPartial, model.decode(pendingPartial, skipSpecialTokens));
            pendingPartial = null;
            firstEventSent = true;
            return first;
        }
        return -1;
    }
}

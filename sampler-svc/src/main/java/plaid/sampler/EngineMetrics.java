package plaid.sampler;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import jakarta.inject.Singleton;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The generation engine's meters on /q/metrics, named after the ones vLLM users know:
 * requests running and waiting, rows in the running batches, queue time, time to the first
 * partial decode, end-to-end latency (histograms), steps and rows × steps (counters, and
 * their rates over the last steps as gauges), finished requests by reason.
 */
@Singleton // no client proxy: the engine reads its counters' fields directly
public class EngineMetrics {
    /** The rates are taken over this many recent steps, and read 0 once no step ran for {@link #IDLE_NANOS}. */
    private static final int RATE_WINDOW = 64;

    private static final long IDLE_NANOS = TimeUnit.SECONDS.toNanos(5);

    final AtomicInteger running = new AtomicInteger();
    final AtomicInteger waiting = new AtomicInteger();
    final AtomicInteger rows = new AtomicInteger();
    private final Timer queueTime, firstPartial, latency;
    private final Counter steps, rowSteps;
    private final Map<GenerationSink.FinishReason, Counter> finished = new EnumMap<>(GenerationSink.FinishReason.class);
    private final long[] stepNanos = new long[RATE_WINDOW], stepRows = new long[RATE_WINDOW];
    private long stepCount;

    EngineMetrics(MeterRegistry meters) {
        Gauge.builder("plaid.sampler.requests.running", running, AtomicInteger::get)
                .description("Generate requests whose rows are in a running batch")
                .register(meters);
        Gauge.builder("plaid.sampler.requests.waiting", waiting, AtomicInteger::get)
                .description("Generate requests admitted or queued, not yet in a running batch")
                .register(meters);
        Gauge.builder("plaid.sampler.batch.rows", rows, AtomicInteger::get)
                .description("Rows (samples) in the running batches")
                .register(meters);
        queueTime = histogram(
                meters, "plaid.sampler.request.queue.time", "From the request's arrival to its rows' first step");
        firstPartial = histogram(
                meters,
                "plaid.sampler.time.to.first.partial",
                "From the request's arrival to its first partial decode (or its texts, when it asks for none)");
        latency = histogram(meters, "plaid.sampler.e2e.request.latency", "From the request's arrival to its texts");
        steps = Counter.builder("plaid.sampler.steps")
                .description("Batched sampler steps run (one forward per lane each)")
                .register(meters);
        rowSteps = Counter.builder("plaid.sampler.row.steps")
                .description("Rows × steps run: sequences moved one step")
                .register(meters);
        Gauge.builder("plaid.sampler.steps.per.second", this, m -> m.rate(false))
                .description("Batched steps per second over the last " + RATE_WINDOW + " steps")
                .register(meters);
        Gauge.builder("plaid.sampler.row.steps.per.second", this, m -> m.rate(true))
                .description("Rows × steps per second over the last " + RATE_WINDOW + " steps")
                .register(meters);
        for (GenerationSink.FinishReason reason : GenerationSink.FinishReason.values())
            finished.put(
                    reason,
                    Counter.builder("plaid.sampler.requests.finished")
                            .tag("reason", reason.label())
                            .description("Generate requests that left the engine, by reason")
                            .register(meters));
    }

    private static Timer histogram(MeterRegistry meters, String name, String description) {
        return Timer.builder(name)
                .description(description)
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofHours(1))
                .register(meters);
    }

    void queued(long nanos) {
        queueTime.record(nanos, TimeUnit.NANOSECONDS);
    }

    void firstPartial(long nanos) {
        firstPartial.record(nanos, TimeUnit.NANOSECONDS);
    }

    void finished(GenerationSink.FinishReason reason, long sinceArrivalNanos) {
        finished.get(reason).increment();
        if (reason == GenerationSink.FinishReason.DONE) latency.record(sinceArrivalNanos, TimeUnit.NANOSECONDS);
    }

    synchronized void step(int batchRows) {
        steps.increment();
        rowSteps.increment(batchRows);
        int at = (int) (stepCount++ % RATE_WINDOW);
        stepNanos[at] = System.nanoTime();
        stepRows[at] = batchRows;
    }

    private synchronized double rate(boolean perRow) {
        int n = (int) Math.min(stepCount, RATE_WINDOW);
        if (n < 2) return 0;
        int newest = (int) ((stepCount - 1) % RATE_WINDOW), oldest = (int) ((stepCount - n) % RATE_WINDOW);
        long now = System.nanoTime();
        if (now - stepNanos[newest] > IDLE_NANOS) return 0;
        double seconds = (stepNanos[newest] - stepNanos[oldest]) / 1e9;
        if (seconds <= 0) return 0;
        double work = 0;
        // the oldest step's own work happened before its timestamp: count the n − 1 after it
        for (int i = 1; i < n; i++) work += perRow ? stepRows[(int) ((stepCount - n + i) % RATE_WINDOW)] : 1;
        return work / seconds;
    }
}

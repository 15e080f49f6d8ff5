package plaid.bench;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import plaid.model.sampling.NoiseSource;
import plaid.model.sampling.SamplerBatch;
import plaid.model.sampling.SamplingRequest;
import plaid.model.sampling.Trajectory;

/**
 * The load benchmark's in-process driver of the step-level engine ({@link SamplerBatch}), for a
 * machine where the Quarkus service does not travel (the GPU machine). It admits requests at
 * step boundaries the way sampler-svc's GenerationScheduler does for one model: first come first
 * served within a row budget, joining the running batch (or, with joining off, only an empty
 * one), finished rows leaving after their step. No gRPC, metrics, deadlines or faults: those do
 * not change the timing. Runs on the calling thread; times are wall-clock seconds from {@link #run}'s start.
 */
final class ServingEngine {
    /** One request: its settings and seed; its arrival is decided by the {@link Source}. */
    record Request(SamplingRequest sampling, long seed) {
        int rows() {
            return sampling.samples();
        }

        long rowSteps() {
            return (long) sampling.samples() * sampling.steps();
        }
    }

    /** One finished request's times, in seconds from its arrival. */
    record Timing(Request request, double arrival, double firstPartial, double end) {}

    /** Where requests come from: open-loop arrival times, or clients that send again when served. */
    interface Source {
        /** Requests that have arrived by {@code now}, each with its arrival time, in arrival order. */
        List<Arrived> arrivedBy(double now);

        /** The next arrival's time; +∞ when none is scheduled (closed loop: until something finishes). */
        double nextArrival();

        /** Tells the source that a request finished (a closed-loop client sends its next). */
        default void finished(Timing timing) {}

        boolean exhausted();
    }

    record Arrived(Request request, double at) {}

    /** What one run gave: each request's timing, and rows × steps per second while the source still sent. */
    record Result(List<Timing> timings, double makespan, long steps, double busyRowStepsPerSecond) {
        double throughput() {
            return timings.stream().mapToLong(t -> t.request.rowSteps()).sum() / makespan;
        }
    }

    /** A request in the batch and what it has given so far. */
    private static final class Live {
        final Arrived arrived;
        Trajectory trajectory;
        double firstPartial = -1;

        Live(Arrived arrived) {
            this.arrived = arrived;
        }
    }

    private final SamplerBatch sampler;
    private final int budgetRows;
    private final int decodeEvery;

    /**
     * @param budgetRows the row budget (the service's max-batch-tokens over seq_len)
     * @param seqLen the requests' seq_len
     * @param decodeEvery each request's partial-decode cadence in steps
     */
    ServingEngine(SamplerBatch sampler, int budgetRows, int seqLen, int decodeEvery) {
        this.sampler = sampler;
        sampler.serveWithin((long) budgetRows * seqLen); // as the service: on a device, lanes padded to row buckets
        this.budgetRows = budgetRows;
        this.decodeEvery = decodeEvery;
    }

    Result run(Source source, boolean join) {
        return sampler.session(() -> serve(source, join));
    }

    private Result serve(Source source, boolean join) {
        long start = System.nanoTime();
        Deque<Live> waiting = new ArrayDeque<>();
        List<Live> running = new ArrayList<>();
        List<Timing> timings = new ArrayList<>();
        long steps = 0, busyRowSteps = 0;
        double busyUntil = 0;
        int rows = 0;
        while (true) {
            double now = seconds(start);
            for (Arrived a : source.arrivedBy(now)) waiting.add(new Live(a));
            if (join || running.isEmpty()) {
                // first come first served: the head of the queue that does not fit holds back those behind it
                while (!waiting.isEmpty()
                        && rows + waiting.peek().arrived.request.rows() <= budgetRows) {
                    Live live = waiting.poll();
                    Request r = live.arrived.request;
                    live.trajectory =
                            sampler.start(r.sampling, NoiseSource.seeded(r.seed), decodeEvery, (step, tokens) -> {
                                if (live.firstPartial < 0) live.firstPartial = seconds(start);
                            });
                    running.add(live);
                    rows += r.rows();
                }
            }
            if (running.isEmpty()) {
                if (waiting.isEmpty() && source.exhausted()) break;
                if (!waiting.isEmpty())
                    throw new IllegalStateException(
                            "a request of " + waiting.peek().arrived.request.rows() + " rows exceeds the budget");
                sleepUntil(start, source.nextArrival());
                continue;
            }
            sampler.step(running.stream().map(l -> l.trajectory).toList());
            steps++;
            boolean sourceSends = !source.exhausted();
            if (sourceSends) {
                busyRowSteps += rows;
                busyUntil = seconds(start);
            }
            double end = seconds(start);
            for (var it = running.iterator(); it.hasNext(); ) {
                Live live = it.next();
                if (!live.trajectory.finished()) continue;
                it.remove();
                rows -= live.arrived.request.rows();
                double first = live.firstPartial < 0 ? end : live.firstPartial;
                Timing timing = new Timing(
                        live.arrived.request, live.arrived.at, first - live.arrived.at, end - live.arrived.at);
                timings.add(timing);
                source.finished(timing);
            }
        }
        return new Result(timings, seconds(start), steps, busyUntil > 0 ? busyRowSteps / busyUntil : Double.NaN);
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    private static void sleepUntil(long start, double at) {
        if (Double.isInfinite(at)) throw new IllegalStateException("nothing runs and nothing will arrive");
        long nanos = (long) ((at - seconds(start)) * 1e9);
        if (nanos > 0) java.util.concurrent.locks.LockSupport.parkNanos(nanos);
    }

    /** Arrivals at fixed times (seconds from the start), e.g. a Poisson process's. */
    static Source openLoop(List<Request> requests, double[] at) {
        return new Source() {
            int next;

            @Override
            public List<Arrived> arrivedBy(double now) {
                List<Arrived> due = new ArrayList<>();
                while (next < requests.size() && at[next] <= now) {
                    due.add(new Arrived(requests.get(next), at[next]));
                    next++;
                }
                return due;
            }

            @Override
            public double nextArrival() {
                return next < requests.size() ? at[next] : Double.POSITIVE_INFINITY;
            }

            @Override
            public boolean exhausted() {
                return next == requests.size();
            }
        };
    }

    /** {@code clients} clients that each send their next request as soon as their last is served, until {@code requests} are sent. */
    static Source closedLoop(List<Request> requests, int clients) {
        return new Source() {
            int next;
            int ready = clients;
            double readyAt;

            @Override
            public List<Arrived> arrivedBy(double now) {
                List<Arrived> due = new ArrayList<>();
                for (; ready > 0 && next < requests.size(); ready--)
                    due.add(new Arrived(requests.get(next++), Math.min(now, Math.max(readyAt, 0))));
                return due;
            }

            @Override
            public double nextArrival() {
                return ready > 0 && next < requests.size() ? readyAt : Double.POSITIVE_INFINITY;
            }

            @Override
            public void finished(Timing timing) {
                ready++;
                readyAt = timing.arrival() + timing.end();
            }

            @Override
            public boolean exhausted() {
                return next == requests.size();
            }
        };
    }
}

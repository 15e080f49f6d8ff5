package plaid.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.model.PlaidParameters;
import plaid.model.sampling.SamplerBatch;
import plaid.model.sampling.SamplingRequest;
import plaid.model.sampling.StepTimes;
import plaid.options.PlaidConfig;

/**
 * The serving load benchmark in-process (docs/serving.md), for the GPU machine, where the Quarkus
 * service does not travel: the sampler's step-level engine ({@link ServingEngine} over
 * {@link SamplerBatch}) on the backend {@code -Dplaid.backend} names, with random weights (speed
 * does not depend on them), one-row requests of mixed step counts (64 / 256 / 1024, halved until
 * a shape's run fits its time), each streaming a partial decode every step. Per shape it measures
 * one full batch (the capacity), a request joining a long run (time to its first partial in step
 * times), as many clients as the batch holds sending again as soon as they are served, and
 * Poisson arrivals at several fractions of the capacity; each once with continuous batching and
 * once run at a time, with the ratios and the targets.
 * Properties: {@code plaid.bench.shapes} (tiny, small, 1B; default small,1B), {@code plaid.bench.seconds}
 * (per shape, default 120), {@code plaid.bench.requests} (per load level, at most; default 64),
 * {@code plaid.bench.loads} (default 0.5,0.7,0.9), {@code plaid.bench.rows} (the row budget; default 64, 32 for 1B).
 * Run by gpu/serving.sh; on the CPU: {@code java -cp ... -Dplaid.bench.shapes=tiny plaid.bench.ServingBenchmark}.
 */
public final class ServingBenchmark {
    private static final int[] BASE_STEPS = {64, 256, 1024};
    private static final double SECONDS = Double.parseDouble(System.getProperty("plaid.bench.seconds", "120"));
    private static final int MAX_REQUESTS = Integer.getInteger("plaid.bench.requests", 64);
    private static final int MIN_REQUESTS = 16;
    private static final double[] LOADS = Arrays.stream(
                    System.getProperty("plaid.bench.loads", "0.5,0.7,0.9").split(","))
            .mapToDouble(Double::parseDouble)
            .toArray();
    /** Steps of the full-batch and the joining measurements. */
    private static final int PROBE_STEPS = 16, LONG_RUN_STEPS = 48, JOIN_AFTER_STEPS = 8;

    /** @param rows the row budget (64 as the target has it; the 1B shape's activations take 0.6 MB a token) */
    private record Shape(String name, int dim, int blocks, int heads, int vocab, int seqLen, int rows) {
        PlaidConfig config() {
            PlaidConfig c = PlaidConfig.defaults();
            c.dim = dim;
            c.nBlocks = blocks;
            c.nHeads = heads;
            c.vocabSize = vocab;
            c.seqLen = seqLen;
            return c.validate();
        }
    }

    private static final List<Shape> SHAPES = List.of(
            new Shape("tiny", 64, 2, 2, 1024, 32, 32),
            new Shape("small", 384, 16, 6, 32768, 256, 64),
            new Shape("1B", 2048, 24, 32, 32768, 1024, 32));

    private final ComputeBackend backend;
    private final Shape shape;
    private final SamplerBatch sampler;
    private final ServingEngine engine;
    /** The row budget: the shape's, or {@code -Dplaid.bench.rows}. */
    private final int budgetRows;

    private ServingBenchmark(ComputeBackend backend, Shape shape) {
        this.backend = backend;
        this.shape = shape;
        this.budgetRows = Integer.getInteger("plaid.bench.rows", shape.rows);
        PlaidConfig config = shape.config();
        PlaidParameters params = PlaidParameters.initialize(config, backend, 1);
        this.sampler = new SamplerBatch(config, params, shape.seqLen);
        this.engine = new ServingEngine(sampler, budgetRows, shape.seqLen, 1);
    }

    public static void main(String[] args) {
        String names = System.getProperty("plaid.bench.shapes", "small,1B");
        try (ComputeBackend backend = ComputeBackends.fromSystemProperty()) {
            System.out.printf(
                    "ServingBenchmark on %s (%s), %s; one-row requests, a partial decode every step%n",
                    backend.name(),
                    System.getProperty("plaid.cuda.precision", "fp32 (TF32 products)"),
                    java.time.Instant.now());
            for (String name : names.split(",")) {
                Shape shape = SHAPES.stream()
                        .filter(s -> s.name.equalsIgnoreCase(name.trim()))
                        .findFirst()
                        .orElseThrow(
                                () -> new IllegalArgumentException("unknown shape " + name + ": tiny, small or 1B"));
                new ServingBenchmark(backend, shape).measure();
                System.gc(); // the shape's weights and activations (device memory is freed when unreachable)
            }
        }
    }

    private void measure() {
        long began = System.nanoTime();
        System.out.printf(
                "%n== %s: D %d, L %d, H %d, V %d, seq_len %d, %d rows%n",
                shape.name, shape.dim, shape.blocks, shape.heads, shape.vocab, shape.seqLen, budgetRows);
        // warm-up: kernels compile, plans are made, the host's loops are compiled
        engine.run(allAtOnce(requests(budgetRows, PROBE_STEPS, 1)), true);
        engine.run(allAtOnce(requests(1, 2, 1)), true);
        StepTimes before = sampler.stepTimes();
        ServingEngine.Result full = engine.run(allAtOnce(requests(budgetRows, PROBE_STEPS, 2)), true);
        double fullRowSteps = full.throughput(), stepSeconds = full.makespan() / full.steps();
        System.out.printf(
                "full batch: %d rows × %d steps: %.0f rows×steps/s, %.1f ms a step%n",
                budgetRows, PROBE_STEPS, fullRowSteps, 1e3 * stepSeconds);
        System.out.printf("  its steps: %s%n", sampler.stepTimes().since(before).perStep());
        joiningRequest(stepSeconds);

        // the step counts, halved until the load levels fit the time left (two modes each)
        int[] steps = BASE_STEPS.clone();
        int requests = MAX_REQUESTS;
        double sumInverseLoads = Arrays.stream(LOADS).map(l -> 1 / l).sum();
        double left = SECONDS - (System.nanoTime() - began) / 1e9;
        while (true) {
            double mean = Arrays.stream(steps).average().orElseThrow();
            double tail = steps[steps.length - 1] * stepSeconds; // the last long request, after the last arrival
            // each mode: a level takes requests / rate (rate = load × capacity) and a tail; the closed loop
            // 2 × rows requests at the capacity and a tail
            double estimate = 2
                    * (mean / fullRowSteps * (requests * sumInverseLoads + 2.0 * budgetRows)
                            + (LOADS.length + 1) * tail);
            if (estimate <= left) break;
            if (steps[0] > 8) for (int i = 0; i < steps.length; i++) steps[i] /= 2;
            else if (requests > MIN_REQUESTS) requests = Math.max(MIN_REQUESTS, requests * 3 / 4);
            else break;
        }
        double meanSteps = Arrays.stream(steps).average().orElseThrow();
        double capacity = fullRowSteps / meanSteps;
        System.out.printf(
                "steps %s (mean %.0f); capacity %.2f requests/s; %d requests per load level%n",
                Arrays.toString(steps), meanSteps, capacity, requests);

        // as many clients as the batch holds, each sending again once served
        List<ServingEngine.Request> loop = requests(2 * budgetRows, steps, 3);
        ServingEngine.Result closedContinuous = engine.run(ServingEngine.closedLoop(loop, budgetRows), true);
        ServingEngine.Result closedAtATime = engine.run(ServingEngine.closedLoop(loop, budgetRows), false);
        System.out.printf(
                "%d concurrent clients (%d requests): continuous %.0f rows×steps/s = %.2f of a full batch"
                        + " [target ≥ 0.9]; run at a time %.0f = %.2f%n",
                budgetRows,
                loop.size(),
                closedContinuous.busyRowStepsPerSecond(),
                closedContinuous.busyRowStepsPerSecond() / fullRowSteps,
                closedAtATime.busyRowStepsPerSecond(),
                closedAtATime.busyRowStepsPerSecond() / fullRowSteps);

        System.out.println("load  mode          req/s  rows×steps/s  ttfp p50/p90/p99 (s)     e2e p50/p90/p99 (s)");
        for (double load : LOADS) {
            if ((System.nanoTime() - began) / 1e9 > 1.5 * SECONDS) {
                // the estimate above missed (a machine slower than its full batch said): the caller's time limit wins
                System.out.printf("load %.1f and above skipped: the shape has had 1.5× its %.0f s%n", load, SECONDS);
                break;
            }
            double rate = load * capacity;
            List<ServingEngine.Request> level = requests(requests, steps, 13);
            double[] at = poisson(rate, requests, 11);
            StepTimes levelStart = sampler.stepTimes();
            ServingEngine.Result continuous = engine.run(ServingEngine.openLoop(level, at), true);
            StepTimes parts = sampler.stepTimes().since(levelStart);
            ServingEngine.Result atATime = engine.run(ServingEngine.openLoop(level, at), false);
            print(load, "continuous", rate, continuous);
            print(load, "run-at-a-time", rate, atATime);
            System.out.printf("      continuous steps: %s%n", parts.perStep());
            double ttfpRatio = pct(atATime, ServingEngine.Timing::firstPartial, 99)
                    / pct(continuous, ServingEngine.Timing::firstPartial, 99);
            System.out.printf(
                    "      ratio: throughput %.2f×, p99 ttfp %.1f× lower%s, p99 e2e %.1f× lower%n",
                    continuous.throughput() / atATime.throughput(),
                    ttfpRatio,
                    load == 0.7 ? " [target ≥ 10×]" : "",
                    pct(atATime, ServingEngine.Timing::end, 99) / pct(continuous, ServingEngine.Timing::end, 99));
        }
        System.out.printf("(%s took %.0f s)%n", shape.name, (System.nanoTime() - began) / 1e9);
    }

    /** A long run of budgetRows − 1 rows, and one more request arriving after a few of its steps: its time to first partial. */
    private void joiningRequest(double stepSeconds) {
        for (boolean join : new boolean[] {true, false}) {
            List<ServingEngine.Request> all = new ArrayList<>(requests(budgetRows - 1, LONG_RUN_STEPS, 4));
            all.addAll(requests(1, LONG_RUN_STEPS, 5));
            double[] at = new double[budgetRows];
            at[budgetRows - 1] = JOIN_AFTER_STEPS * stepSeconds;
            StepTimes before = sampler.stepTimes();
            ServingEngine.Result result = engine.run(ServingEngine.openLoop(all, at), join);
            StepTimes parts = sampler.stepTimes().since(before);
            double runStep = result.makespan() / result.steps();
            ServingEngine.Timing late = result.timings().stream()
                    .filter(t -> t.arrival() > 0)
                    .findFirst()
                    .orElseThrow();
            System.out.printf(
                    "a request arriving %d steps into a %d-step run of %d rows, %s: first partial after %.3f s"
                            + " = %.1f step times%s%n",
                    JOIN_AFTER_STEPS,
                    LONG_RUN_STEPS,
                    budgetRows - 1,
                    join ? "continuous" : "run at a time",
                    late.firstPartial(),
                    late.firstPartial() / runStep,
                    join ? " [target ≤ ~2]" : "");
            if (join) System.out.printf("  its steps: %s%n", parts.perStep());
        }
    }

    private ServingEngine.Source allAtOnce(List<ServingEngine.Request> requests) {
        return ServingEngine.openLoop(requests, new double[requests.size()]);
    }

    private List<ServingEngine.Request> requests(int count, int steps, long seed) {
        return requests(count, new int[] {steps}, seed);
    }

    /** {@code count} one-row requests, each of a step count drawn from {@code steps}, sample.py's other defaults. */
    private List<ServingEngine.Request> requests(int count, int[] steps, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        List<ServingEngine.Request> list = new ArrayList<>();
        for (int i = 0; i < count; i++)
            list.add(new ServingEngine.Request(
                    SamplingRequest.defaults(shape.seqLen)
                            .withSamples(1)
                            .withSteps(steps[random.nextInt(steps.length)]),
                    random.nextLong()));
        return list;
    }

    /** Arrival times (seconds) of a Poisson process of {@code rate} per second. */
    private static double[] poisson(double rate, int count, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        double[] at = new double[count];
        double t = 0;
        for (int i = 0; i < count; i++) {
            t += -Math.log(1 - random.nextDouble()) / rate;
            at[i] = t;
        }
        return at;
    }

    private static double pct(
            ServingEngine.Result result, ToDoubleFunction<ServingEngine.Timing> value, double percentile) {
        double[] v = result.timings().stream().mapToDouble(value).sorted().toArray();
        int at = (int) Math.ceil(percentile / 100 * v.length) - 1;
        return v[Math.max(0, Math.min(v.length - 1, at))];
    }

    private static void print(double load, String mode, double rate, ServingEngine.Result result) {
        System.out.printf(
                Locale.ROOT,
                "%.1f   %-13s %6.2f  %12.0f  %6.3f %6.3f %6.3f     %6.3f %6.3f %6.3f%n",
                load,
                mode,
                rate,
                result.throughput(),
                pct(result, ServingEngine.Timing::firstPartial, 50),
                pct(result, ServingEngine.Timing::firstPartial, 90),
                pct(result, ServingEngine.Timing::firstPartial, 99),
                pct(result, ServingEngine.Timing::end, 50),
                pct(result, ServingEngine.Timing::end, 90),
                pct(result, ServingEngine.Timing::end, 99));
    }
}

package plaid.sampler;

import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import plaid.backend.cpu.CpuBackend;
import plaid.model.PlaidParameters;
import plaid.model.TrainingCheckpoint;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.options.PlaidConfig;
import plaid.service.LoopbackChannels;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateRequest;
import plaid.v1.LoadModelRequest;
import plaid.v1.SamplerServiceGrpc;

/**
 * Load figures for docs/serving.md, not a test: Poisson arrivals of Generate requests with mixed
 * step counts against the running service on a small untrained CPU model, for continuous
 * batching and, in the same run, batch at a time ({@code batching.join=false}). Prints
 * throughput (rows × steps per second), p50/p90/p99 time to first partial decode and end-to-end
 * latency, and the ratios.
 * Run: {@code ./mvnw -q -pl model,sampler-svc -am verify -Dbench -Dtest=ServingLoadBenchmark -Dsurefire.failIfNoSpecifiedTests=false}
 * ({@code -Dplaid.bench.requests=N} per load level).
 */
@Tag("benchmark")
@QuarkusTest
@TestProfile(ServingLoadBenchmark.Profile.class)
class ServingLoadBenchmark {
    /** 64, 256 and 1024 steps scaled down by 8 for the CPU. */
    private static final int[] STEPS = {8, 32, 128};

    private static final int SEQ_LEN = 32, ROWS = 32;
    private static final int REQUESTS = Integer.getInteger("plaid.bench.requests", 96);
    private static final double[] LOADS = {0.3, 0.5, 0.7, 0.9};

    public static class Profile extends SamplerServiceTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            Map<String, String> config = new java.util.HashMap<>(super.getConfigOverrides());
            config.put("sampler-svc.batching.max-batch-tokens", Integer.toString(ROWS * SEQ_LEN));
            config.put("sampler-svc.limits.queue-capacity", "100000");
            config.put("sampler-svc.limits.max-samples", "64");
            return config;
        }
    }

    @TestHTTPResource("/")
    URI server;

    @Inject
    GenerationScheduler scheduler;

    /** One request's timings, in seconds from its send. */
    private record Timing(double firstPartial, double end, long rowSteps) {}

    @Test
    void poissonArrivalsContinuousVersusBatchAtATime() throws Exception {
        Path dir = SamplerServiceTestProfile.MODEL_ROOT.resolve("bench");
        writeModel(dir);
        ManagedChannel channel = LoopbackChannels.open(server);
        SamplerServiceGrpc.newBlockingStub(channel)
                .loadModel(LoadModelRequest.newBuilder()
                        .setName("bench")
                        .setCheckpoint("bench")
                        .build());
        SamplerServiceGrpc.SamplerServiceStub sampler = SamplerServiceGrpc.newStub(channel);
        System.out.printf(
                "ServingLoadBenchmark: model dim 64, 2 blocks, seq_len %d, the tiny tokenizer's vocabulary, CPU (%d cores); steps %s; %d requests per level%n",
                SEQ_LEN, Runtime.getRuntime().availableProcessors(), Arrays.toString(STEPS), REQUESTS);

        // one full batch: all rows of the longest step count together
        run(sampler, new double[ROWS], requests(ROWS, STEPS[0], 1), true); // warm-up
        double fullBatch = throughput(run(sampler, new double[ROWS], requests(ROWS, STEPS[2], 2), true));
        double meanSteps = Arrays.stream(STEPS).average().orElseThrow();
        double capacity = fullBatch / meanSteps;
        System.out.printf(
                "full batch of %d rows: %.0f rows×steps/s; capacity at mean %.0f steps: %.2f requests/s%n",
                ROWS, fullBatch, meanSteps, capacity);

        // as many concurrent requests of mixed steps as the batch holds, all sent at once
        List<GenerateRequest> mixed = requests(ROWS, 0, 3);
        double concurrent = throughput(run(sampler, new double[ROWS], mixed, true));
        System.out.printf(
                "%d concurrent mixed requests: %.0f rows×steps/s = %.2f of a full batch%n",
                ROWS, concurrent, concurrent / fullBatch);

        System.out.println("load  mode            req/s  rows×steps/s  ttfp p50/p90/p99 (s)      e2e p50/p90/p99 (s)");
        for (double load : LOADS) {
            double rate = load * capacity;
            double[] arrivals = poisson(rate, REQUESTS, 11);
            List<GenerateRequest> requests = requests(REQUESTS, 0, 13);
            List<Timing> continuous = run(sampler, arrivals, requests, true);
            List<Timing> atATime = run(sampler, arrivals, requests, false);
            print(load, "continuous", rate, continuous);
            print(load, "batch-at-a-time", rate, atATime);
            System.out.printf(
                    "      ratio: throughput %.2f×, p99 ttfp %.1f× lower, p99 e2e %.1f× lower%n",
                    throughput(continuous) / throughput(atATime),
                    pct(atATime, Timing::firstPartial, 99) / pct(continuous, Timing::firstPartial, 99),
                    pct(atATime, Timing::end, 99) / pct(continuous, Timing::end, 99));
        }
        scheduler.joining(true);
        channel.shutdownNow();
    }

    private List<Timing> run(
            SamplerServiceGrpc.SamplerServiceStub sampler,
            double[] arrivals,
            List<GenerateRequest> requests,
            boolean join)
            throws Exception {
        scheduler.joining(join);
        List<CompletableFuture<Timing>> timings = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < requests.size(); i++) {
            long due = start + (long) (arrivals[i] * 1e9);
            while (System.nanoTime() < due) Thread.sleep(0, 200_000);
            GenerateRequest request = requests.get(i);
            long sent = System.nanoTime();
            CompletableFuture<Timing> timing = new CompletableFuture<>();
            timings.add(timing);
            sampler.generate(request, new StreamObserver<>() {
                double firstPartial = -1;

                @Override
                public void onNext(GenerateEvent event) {
                    if (firstPartial < 0 && (event.hasPartial() || event.hasResult()))
                        firstPartial = (System.nanoTime() - sent) / 1e9;
                }

                @Override
                public void onError(Throwable t) {
                    timing.completeExceptionally(t);
                }

                @Override
                public void onCompleted() {
                    timing.complete(new Timing(
                            firstPartial,
                            (System.nanoTime() - sent) / 1e9,
                            (long) request.getSamples() * request.getSteps()));
                }
            });
        }
        List<Timing> done = new ArrayList<>();
        for (CompletableFuture<Timing> timing : timings) done.add(timing.get(30, TimeUnit.MINUTES));
        double makespan = (System.nanoTime() - start) / 1e9;
        // the makespan rides along in the list's first element's place: throughput = Σ rows×steps / makespan
        done.add(new Timing(-1, makespan, -1));
        return done;
    }

    private static double throughput(List<Timing> timings) {
        long work = timings.stream()
                .filter(t -> t.rowSteps >= 0)
                .mapToLong(Timing::rowSteps)
                .sum();
        return work / timings.getLast().end;
    }

    private static double pct(
            List<Timing> timings, java.util.function.ToDoubleFunction<Timing> value, double percentile) {
        double[] v = timings.stream()
                .filter(t -> t.rowSteps >= 0)
                .mapToDouble(value)
                .sorted()
                .toArray();
        int at = (int) Math.ceil(percentile / 100 * v.length) - 1;
        return v[Math.max(0, Math.min(v.length - 1, at))];
    }

    private static void print(double load, String mode, double rate, List<Timing> timings) {
        System.out.printf(
                "%.1f   %-15s %6.2f  %12.0f  %6.3f %6.3f %6.3f      %6.3f %6.3f %6.3f%n",
                load,
                mode,
                rate,
                throughput(timings),
                pct(timings, Timing::firstPartial, 50),
                pct(timings, Timing::firstPartial, 90),
                pct(timings, Timing::firstPartial, 99),
                pct(timings, Timing::end, 50),
                pct(timings, Timing::end, 90),
                pct(timings, Timing::end, 99));
    }

    /** {@code count} requests of one row, {@code steps} each (0: drawn from {@link #STEPS}), every one streaming each partial decode. */
    private static List<GenerateRequest> requests(int count, int steps, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        List<GenerateRequest> requests = new ArrayList<>();
        for (int i = 0; i < count; i++)
            requests.add(GenerateRequest.newBuilder()
                    .setModel("bench")
                    .setSamples(1)
                    .setSeqLen(SEQ_LEN)
                    .setSteps(steps > 0 ? steps : STEPS[random.nextInt(STEPS.length)])
                    .setSeed(random.nextLong())
                    .setPartialDecodeEvery(1)
                    .setProgressEvery(1 << 20)
                    .build());
        return requests;
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

    /** An untrained model of a small shape: throughput does not depend on what the weights say. */
    private static void writeModel(Path dir) throws IOException {
        if (Files.isDirectory(dir)) return;
        SamplerGrpcServiceTest.writeModels(); // for the tiny model's tokenizer
        // the tiny model's tokenizer, so that partial decodes are texts as a user would stream them
        String tinyConfig = Files.readString(SamplerServiceTestProfile.MODEL_ROOT.resolve("tiny/config.json"));
        java.util.regex.Matcher vocab =
                java.util.regex.Pattern.compile("\"vocab_size\": (\\d+)").matcher(tinyConfig);
        if (!vocab.find()) throw new IllegalStateException("no vocab_size in " + tinyConfig);
        PlaidConfig config = PlaidConfig.defaults();
        config.vocabSize = Integer.parseInt(vocab.group(1));
        config.dim = 64;
        config.nBlocks = 2;
        config.nHeads = 2;
        config.embedDim = 16;
        config.seqLen = SEQ_LEN;
        PlaidParameters parameters = PlaidParameters.initialize(config.validate(), new CpuBackend(), 1);
        Files.createDirectories(dir);
        TrainingCheckpoint.saveWeights(parameters, dir, CheckpointFormat.SAFETENSORS);
        Files.copy(SamplerServiceTestProfile.MODEL_ROOT.resolve("tiny/tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("config.json"), """
                {"dim": 64, "n_blocks": 2, "n_heads": 2, "embed_dim": 16, "vocab_size": %d, "seq_len": %d}
                """.formatted(config.vocabSize, SEQ_LEN));
    }
}

package plaid.cli;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import plaid.v1.DataServiceGrpc;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateRequest;
import plaid.v1.GetJobRequest;
import plaid.v1.Job;
import plaid.v1.JobState;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelShape;
import plaid.v1.Optimization;
import plaid.v1.Reporting;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.ScoreRequest;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TextOrTokens;
import plaid.v1.TokenizeRequest;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;

/**
 * The hardening soak of docs/security.md: the packaged services as processes on loopback, hit
 * for a set time by 64 concurrent Generate streams, hostile Tokenize and Score inputs,
 * out-of-range SubmitJob specs and LoadModel of decompression bombs and escaping symlinks.
 * Every reply's status is checked against what that attack must get; the services' pids and
 * resident memory are sampled throughout. Not a CI test: {@code scripts/soak.sh [minutes]}.
 * Exits 1 on any unexpected status, a restarted service or a refusal that leaks a path or a
 * file's contents.
 */
public final class SecuritySoak {
    private static final String SECRET = "SOAK-SECRET-CONTENTS";
    private static final Set<Status.Code> REFUSED = Set.of(
            Status.Code.INVALID_ARGUMENT,
            Status.Code.FAILED_PRECONDITION,
            Status.Code.NOT_FOUND,
            Status.Code.PERMISSION_DENIED,
            Status.Code.RESOURCE_EXHAUSTED,
            Status.Code.OUT_OF_RANGE);

    private final Map<String, LongAdder> outcomes = new ConcurrentHashMap<>();
    private final List<String> unexpected = java.util.Collections.synchronizedList(new ArrayList<>());
    private final java.util.concurrent.atomic.AtomicLong loads = new java.util.concurrent.atomic.AtomicLong();
    private final Path work;
    private final LocalStack.CpuServices services;

    private SecuritySoak(Path work, LocalStack.CpuServices services) {
        this.work = work;
        this.services = services;
    }

    public static void main(String[] args) throws Exception {
        Duration length = Duration.ofSeconds(Math.round(Double.parseDouble(args.length > 0 ? args[0] : "30") * 60));
        Path home =
                Path.of(System.getProperty("plaid.home", ".")).toAbsolutePath().normalize();
        Path work = Files.createTempDirectory("plaid-soak");
        int[] ports = freePorts(3);
        LocalStack.CpuServices services = LocalStack.CpuServices.under(
                work,
                ports[0],
                ports[1],
                ports[2],
                List.of("trainer-svc.demo-documents=200", "trainer-svc.shuffle-buffer-chunks=64"));
        System.out.printf("soak: %s for %d s, work dir %s%n", home, length.toSeconds(), work);
        // data-svc tokenizes with the OWT2 tokenizer, the real target of the hostile inputs
        Path tokenizer = Path.of(
                System.getProperty("plaid.data", home.resolve("../shared/data").toString()), "owt2_tokenizer.json");
        Files.copy(
                tokenizer,
                Files.createDirectories(LocalStack.CpuServices.dataRoot(work)).resolve("tokenizer.json"));
        int failures;
        try (LocalStack stack = LocalStack.start(home, work, services.all())) {
            failures = new SecuritySoak(work, services).run(length);
        }
        // only once the stack is closed: System.exit inside the try would skip stopping the services
        System.exit(failures == 0 ? 0 : 1);
    }

    private int run(Duration length) throws Exception {
        Map<String, Long> pids = servicePids();
        System.out.println("soak: service pids " + pids);
        String checkpoint;
        try (Services.Connection trainer = Services.connect(services.trainer().address(), null)) {
            checkpoint = trainTinyModel(TrainerServiceGrpc.newBlockingStub(trainer.channel()));
        }
        System.out.println("soak: trained " + checkpoint);
        List<String> hostileCheckpoints = plantHostileCheckpoints(checkpoint);

        Instant end = Instant.now().plus(length);
        Map<String, List<Long>> rss = new LinkedHashMap<>();
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        try (Services.Connection data = Services.connect(services.data().address(), null);
                Services.Connection trainer =
                        Services.connect(services.trainer().address(), null);
                Services.Connection sampler =
                        Services.connect(services.sampler().address(), null)) {
            var samplerStub = SamplerServiceGrpc.newBlockingStub(sampler.channel());
            call(
                    "LoadModel tiny",
                    Set.of(Status.Code.OK),
                    () -> samplerStub.loadModel(LoadModelRequest.newBuilder()
                            .setName("tiny")
                            .setCheckpoint(checkpoint)
                            .build()));
            List<Future<?>> loops = new ArrayList<>();
            loops.add(pool.submit(() -> loop(end, () -> generateBurst(sampler, 64))));
            loops.add(pool.submit(
                    () -> loop(end, () -> hostileTokenize(DataServiceGrpc.newBlockingStub(data.channel())))));
            loops.add(pool.submit(() -> loop(end, () -> hostileScore(samplerStub))));
            loops.add(pool.submit(
                    () -> loop(end, () -> outOfRangeSpecs(TrainerServiceGrpc.newBlockingStub(trainer.channel())))));
            loops.add(pool.submit(() -> loop(end, () -> hostileLoads(samplerStub, hostileCheckpoints))));
            Instant started = Instant.now();
            while (Instant.now().isBefore(end)) {
                sampleRss(pids, rss);
                printProgress(started);
                Thread.sleep(30_000L);
            }
            for (Future<?> f : loops) f.get(10, TimeUnit.MINUTES);
            sampleRss(pids, rss);
        } finally {
            pool.shutdownNow();
        }
        return report(pids, rss);
    }

    private interface Attack {
        void run() throws Exception;
    }

    private void loop(Instant end, Attack attack) {
        while (Instant.now().isBefore(end)) {
            try {
                attack.run();
            } catch (Exception e) {
                unexpected.add("attack threw " + e);
            }
        }
    }

    /** Runs one call and checks its status against the allowed ones; returns its result or null. */
    private <T> T call(String what, Set<Status.Code> allowed, java.util.concurrent.Callable<T> rpc) {
        Status.Code code;
        String message = "";
        T result = null;
        try {
            result = rpc.call();
            code = Status.Code.OK;
        } catch (StatusRuntimeException e) {
            code = e.getStatus().getCode();
            message = String.valueOf(e.getStatus().getDescription());
        } catch (Exception e) {
            unexpected.add(what + ": " + e);
            return null;
        }
        outcomes.computeIfAbsent(what + " -> " + code, k -> new LongAdder()).increment();
        if (!allowed.contains(code)) unexpected.add(what + ": " + code + " " + message);
        if (message.contains(SECRET) || message.contains(work.toString()))
            unexpected.add(what + " leaked in its message: " + message);
        return result;
    }

    private void generateBurst(Services.Connection sampler, int streams) throws Exception {
        try (ExecutorService burst = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> calls = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                int seed = i;
                calls.add(burst.submit(() -> call("Generate (64 concurrent)", Set.of(Status.Code.OK), () -> {
                    Iterator<GenerateEvent> events = SamplerServiceGrpc.newBlockingStub(sampler.channel())
                            .withDeadlineAfter(Duration.ofMinutes(5))
                            .generate(GenerateRequest.newBuilder()
                                    .setModel("tiny")
                                    .setSamples(1)
                                    .setSteps(16)
                                    .setSeed(seed)
                                    .setPartialDecodeEvery(4)
                                    .build());
                    boolean result = false;
                    while (events.hasNext()) result |= events.next().hasResult();
                    if (!result) throw new IllegalStateException("stream ended without a result");
                    return null;
                })));
            }
            for (Future<?> f : calls) f.get();
        }
    }

    private void hostileTokenize(DataServiceGrpc.DataServiceBlockingStub data) {
        List<String> texts = List.of(
                "a".repeat(999_999),
                "the".repeat(333_333),
                " ".repeat(999_999),
                "\uD83D\uDE00".repeat(250_000),
                "ab".repeat(499_999) + "\u0000",
                "x".repeat(1_000_001));
        for (String text : texts) {
            Set<Status.Code> allowed = text.length() > 1_000_000
                    ? Set.of(Status.Code.INVALID_ARGUMENT)
                    : Set.of(Status.Code.OK, Status.Code.INVALID_ARGUMENT);
            call(
                    "Tokenize hostile",
                    allowed,
                    () -> data.withDeadlineAfter(Duration.ofSeconds(60))
                            .tokenize(
                                    TokenizeRequest.newBuilder().addTexts(text).build()));
        }
    }

    private void hostileScore(SamplerServiceGrpc.SamplerServiceBlockingStub sampler) {
        for (String text : List.of("the ".repeat(250_000), "a".repeat(2_000_000), "")) {
            call(
                    "Score hostile",
                    Set.of(Status.Code.OK, Status.Code.INVALID_ARGUMENT),
                    () -> sampler.withDeadlineAfter(Duration.ofSeconds(60))
                            .score(ScoreRequest.newBuilder()
                                    .setModel("tiny")
                                    .setDraws(1)
                                    .addTexts(TextOrTokens.newBuilder().setText(text))
                                    .build()));
        }
    }

    private void outOfRangeSpecs(TrainerServiceGrpc.TrainerServiceBlockingStub trainer) throws InterruptedException {
        List<UnaryOperator<TrainingSpec.Builder>> bad = List.of(
                s -> s.setOptimization(s.getOptimization().toBuilder().setEma(2)),
                s -> s.setOptimization(s.getOptimization().toBuilder().setEma(-1)),
                s -> s.setOptimization(s.getOptimization().toBuilder().setBeta1(1.5)),
                s -> s.setOptimization(s.getOptimization().toBuilder().setLr(Double.NaN)),
                s -> s.setOptimization(s.getOptimization().toBuilder().setLr(Double.POSITIVE_INFINITY)),
                s -> s.setOptimization(s.getOptimization().toBuilder().setLr(1e300)),
                s -> s.setOptimization(s.getOptimization().toBuilder().setWeightDecay(-1)),
                s -> s.setOptimization(s.getOptimization().toBuilder().setLrWarmupSteps(-5)),
                s -> s.setOptimization(s.getOptimization().toBuilder().setGradAccumSteps(3)),
                s -> s.setOptimization(s.getOptimization().toBuilder().setBatchSize(99_999_998)),
                s -> s.setShape(s.getShape().toBuilder().setSeqLen(100_000_000)),
                s -> s.setReporting(s.getReporting().toBuilder().setValBatchSize(0)),
                s -> s.setReporting(s.getReporting().toBuilder().setPrintFreq(0)));
        for (UnaryOperator<TrainingSpec.Builder> change : bad) {
            Job job = call(
                    "SubmitJob out of range",
                    REFUSED,
                    () -> trainer.withDeadlineAfter(Duration.ofSeconds(30))
                            .submitJob(SubmitJobRequest.newBuilder()
                                    .setSpec(change.apply(tinySpec(20).toBuilder()))
                                    .build()));
            if (job != null)
                trainer.cancelJob(plaid.v1.CancelJobRequest.newBuilder()
                        .setJobId(job.getId())
                        .build());
        }
        Thread.sleep(1000);
    }

    private void hostileLoads(SamplerServiceGrpc.SamplerServiceBlockingStub sampler, List<String> checkpoints)
            throws InterruptedException {
        for (String checkpoint : checkpoints) {
            // a new name each time, so that a refusal cannot be a name already taken
            String name = "hostile-" + loads.incrementAndGet();
            call(
                    "LoadModel hostile",
                    REFUSED,
                    () -> sampler.withDeadlineAfter(Duration.ofSeconds(60))
                            .loadModel(LoadModelRequest.newBuilder()
                                    .setName(name)
                                    .setCheckpoint(checkpoint)
                                    .build()));
        }
        Thread.sleep(2000);
    }

    /**
     * Folders under the sampler's model root that must all be refused: a {@code step-N} symlink
     * to a good checkpoint outside the root, config and tokenizer symlinked outside (to a file
     * whose contents must never come back), and weights that inflate to 1 GiB.
     */
    private List<String> plantHostileCheckpoints(String checkpoint) throws IOException {
        Path root = LocalStack.CpuServices.trainerRoot(work);
        Path good = root.resolve(checkpoint);
        Path outside = Files.createDirectories(work.resolve("outside"));
        Path secret = Files.writeString(outside.resolve("secret.json"), SECRET + " " + SECRET);
        Path outsideCopy = copyFolder(good, outside.resolve("step-5"));

        Path escape = Files.createDirectories(root.resolve("attacks/escaping-step"));
        Files.createSymbolicLink(escape.resolve("step-5"), outsideCopy);

        Path config = copyFolder(good, root.resolve("attacks/linked-config"));
        Files.delete(config.resolve("config.json"));
        Files.createSymbolicLink(config.resolve("config.json"), secret);
        Path tokenizer = copyFolder(good, root.resolve("attacks/linked-tokenizer"));
        Files.deleteIfExists(tokenizer.resolve("tokenizer.json"));
        Files.createSymbolicLink(tokenizer.resolve("tokenizer.json"), secret);

        Path bomb = copyFolder(good, root.resolve("attacks/bomb"));
        List<Path> weights;
        try (Stream<Path> files = Files.list(bomb)) {
            weights = files.filter(p -> p.toString().endsWith(".pt")
                            || (p.toString().endsWith(".safetensors")
                                    && !p.getFileName().toString().startsWith("training_state")))
                    .toList();
        }
        for (Path w : weights) {
            String name = w.getFileName().toString();
            Files.delete(w);
            writeBomb(bomb.resolve(name.substring(0, name.lastIndexOf('.')) + ".pt"), 1L << 30);
        }
        return List.of(
                "attacks/escaping-step",
                "attacks/escaping-step/step-5",
                "attacks/linked-config",
                "attacks/linked-tokenizer",
                "attacks/bomb",
                "../outside/step-5",
                outsideCopy.toString());
    }

    /** A torch.save zip whose data.pkl inflates to {@code bytes} of zeros (about a thousandth of that on disk). */
    static void writeBomb(Path file, long bytes) throws IOException {
        try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(file))) {
            zip.putNextEntry(new ZipEntry("archive/data.pkl"));
            byte[] zeros = new byte[1 << 20];
            for (long written = 0; written < bytes; written += zeros.length) zip.write(zeros);
            zip.closeEntry();
            zip.putNextEntry(new ZipEntry("archive/version"));
            zip.write("3\n".getBytes(UTF_8));
            zip.closeEntry();
        }
    }

    private static Path copyFolder(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : files.toList()) if (Files.isRegularFile(f)) Files.copy(f, to.resolve(f.getFileName()));
        }
        return to;
    }

    private static TrainingSpec tinySpec(int steps) {
        return TrainingSpec.newBuilder()
                .setCorpus("demo")
                .setSeed(1)
                .setShape(ModelShape.newBuilder()
                        .setDim(32)
                        .setNBlocks(2)
                        .setNHeads(2)
                        .setEmbedDim(8)
                        .setSeqLen(16)
                        .setVocabSize(512))
                .setOptimization(Optimization.newBuilder()
                        .setSteps(steps)
                        .setBatchSize(8)
                        .setLrWarmupSteps(5)
                        .setBiasWarmupSteps(5))
                .setReporting(Reporting.newBuilder()
                        .setHookFreq(steps)
                        .setValSteps(2)
                        .setValBatchSize(8)
                        .setFinalValSteps(2))
                .build();
    }

    private String trainTinyModel(TrainerServiceGrpc.TrainerServiceBlockingStub trainer) throws InterruptedException {
        Job job = trainer.submitJob(SubmitJobRequest.newBuilder()
                .setSpec(tinySpec(20))
                .setDisplayName("soak-model")
                .build());
        Instant deadline = Instant.now().plus(Duration.ofMinutes(15));
        while (Instant.now().isBefore(deadline)) {
            job = trainer.getJob(
                    GetJobRequest.newBuilder().setJobId(job.getId()).build());
            if (job.getState() == JobState.JOB_STATE_SUCCEEDED) {
                return job.getCheckpoints(job.getCheckpointsCount() - 1).getPath();
            }
            if (job.getState() == JobState.JOB_STATE_FAILED || job.getState() == JobState.JOB_STATE_CANCELLED) {
                throw new IllegalStateException("the soak's model did not train: " + job.getFailure());
            }
            Thread.sleep(1000);
        }
        throw new IllegalStateException("the soak's model did not train within 15 minutes");
    }

    /** The pid of each service process of this soak (matched by its work dir on the command line). */
    private Map<String, Long> servicePids() {
        Map<String, Long> pids = new TreeMap<>();
        ProcessHandle.allProcesses().forEach(p -> {
            String line = p.info().commandLine().orElse("");
            if (!line.contains(work.toString())) return;
            for (LocalStack.Service s : services.all()) {
                if (line.contains(s.module() + "/target/quarkus-app")) pids.put(s.module(), p.pid());
            }
        });
        return pids;
    }

    private void sampleRss(Map<String, Long> pids, Map<String, List<Long>> rss) throws IOException {
        for (var e : pids.entrySet()) {
            Path status = Path.of("/proc", e.getValue().toString(), "status");
            long kib = -1;
            if (Files.exists(status)) {
                for (String line : Files.readAllLines(status)) {
                    if (line.startsWith("VmRSS:")) kib = Long.parseLong(line.replaceAll("\\D", ""));
                }
            }
            rss.computeIfAbsent(e.getKey(), k -> new ArrayList<>()).add(kib);
        }
    }

    private void printProgress(Instant started) {
        long calls = outcomes.values().stream().mapToLong(LongAdder::sum).sum();
        System.out.printf(
                "soak: %4d s, %d calls, %d unexpected%n",
                Duration.between(started, Instant.now()).toSeconds(), calls, unexpected.size());
    }

    private int report(Map<String, Long> pids, Map<String, List<Long>> rss) {
        System.out.println("\n| attack -> status | calls |\n|---|---|");
        outcomes.entrySet().stream()
                .sorted(Map.Entry.comparingByKey())
                .forEach(e -> System.out.printf(
                        "| %s | %d |%n", e.getKey(), e.getValue().sum()));
        int restarted = 0;
        Map<String, Long> now = servicePids();
        System.out.println(
                "\n| service | pid kept | RSS after warm-up (MiB) | RSS at end (MiB) | max (MiB) |\n|---|---|---|---|---|");
        for (var e : rss.entrySet()) {
            List<Long> series = e.getValue();
            boolean kept = pids.get(e.getKey()).equals(now.get(e.getKey())) && !series.contains(-1L);
            if (!kept) restarted++;
            // warm-up: the first fifth of the samples (at least one)
            long warm = series.get(Math.min(series.size() - 1, Math.max(1, series.size() / 5)));
            System.out.printf(
                    "| %s | %s | %d | %d | %d |%n",
                    e.getKey(),
                    kept ? "yes" : "NO",
                    warm >> 10,
                    series.getLast() >> 10,
                    series.stream().max(Comparator.naturalOrder()).orElse(0L) >> 10);
        }
        System.out.printf("%nunexpected: %d, services restarted or gone: %d%n", unexpected.size(), restarted);
        unexpected.stream().distinct().limit(40).forEach(u -> System.out.println("  " + u));
        return unexpected.size() + restarted;
    }

    private static int[] freePorts(int n) throws IOException {
        int[] ports = new int[n];
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                ServerSocket s = new ServerSocket(0);
                sockets.add(s);
                ports[i] = s.getLocalPort();
            }
        } finally {
            for (ServerSocket s : sockets) s.close();
        }
        return ports;
    }
}

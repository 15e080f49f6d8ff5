package plaid.trainer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import plaid.backend.Collective;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.backend.SocketCollective;
import plaid.model.CheckpointDirectory;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.model.TrainingCheckpoint;
import plaid.model.TrainingDivergedException;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.model.parallel.DataParallelTrainer;
import plaid.options.PlaidConfig;
import plaid.text.BpeTokenizer;
import plaid.text.CorpusDirectory;
import plaid.text.TokenStream;
import plaid.trainer.cluster.RankAssignment;
import plaid.trainer.cluster.RankContext;
import plaid.trainer.cluster.RankRunner;
import plaid.v1.CheckpointInfo;
import plaid.v1.StepMetrics;
import plaid.v1.ValidationProgress;
import plaid.v1.ValidationResult;

/**
 * The real ranks of a multi-machine job ({@code --runner plaid}): this worker's {@code devices}
 * ranks train with {@link DataParallelTrainer} as the world's ranks {@code firstRank ..}, every
 * worker drawing the same steps from the same seed and data stream, the gradients averaged over
 * the whole world. On CUDA the collective is NCCL (ncclCommInitRank on the id rank 0's worker
 * made); on the CPU it is {@link SocketCollective}, the reference collective over TCP (a test and
 * development aid), whose id is rank 0's {@code host:port}.
 *
 * <p>The coordinator prepared the job's data and tokenizer under the shared root. Rank 0's
 * worker validates, writes the checkpoints (the files the service's own jobs write) and reports.
 * Settings from system properties, as the service reads them: {@code plaid.backend} (cpu, cuda,
 * auto; else the environment's PLAID_BACKEND, else auto), {@code trainer-svc.shuffle-buffer-chunks}, {@code trainer-svc.corpus-root}, {@code trainer-svc.checkpoint-format}, and
 * {@code plaid.collective.host} (the address rank 0 publishes for the CPU collective; default the
 * machine's name).
 *
 * <p>The loop duplicates the step/report/validate/checkpoint order of {@link TrainingRuns}'s
 * own jobs (without their loss-curve charts), reporting through the {@link RankContext}.
 */
public final class PlaidRankRunner implements RankRunner {
    static final String NAME = "plaid";
    private static final int CONNECT_MILLIS = 120_000;

    /** Rank 0's listening socket between {@link #newUniqueId} and {@link #run} (CPU only). */
    private ServerSocket listening;

    @Override
    public String name() {
        return NAME;
    }

    /** -Dplaid.backend, else PLAID_BACKEND, else auto (CUDA where there is a GPU). */
    private static String backendName() {
        String env = System.getenv("PLAID_BACKEND");
        return System.getProperty(ComputeBackends.PROPERTY, env == null || env.isBlank() ? "auto" : env);
    }

    private static boolean cuda() {
        return ComputeBackends.isCuda(backendName());
    }

    @Override
    public synchronized byte[] newUniqueId() {
        if (cuda()) return ComputeBackends.newNcclUniqueId();
        try {
            if (listening != null) listening.close();
            listening = SocketCollective.listen();
            String host = System.getProperty(
                    "plaid.collective.host", InetAddress.getLocalHost().getHostName());
            return SocketCollective.address(listening, host);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen for the CPU collective", e);
        }
    }

    @Override
    public Outcome run(RankAssignment a, RankContext context) throws Exception {
        RunRoot root = new RunRoot(a.root(), Path.of(System.getProperty("trainer-svc.corpus-root", "data")));
        RunPlan plan = RunPlan.of(a.spec(), a.keepCheckpoints());
        PlaidConfig options = plan.config();
        TrainingCorpus.Prepared data =
                TrainingCorpus.prepared(root, a.jobId(), a.spec().getCorpus());
        BpeTokenizer tokenizer = data.tokenizer();
        int shuffle = Integer.getInteger("trainer-svc.shuffle-buffer-chunks", 4096);
        Optional<Path> start = a.resumeFrom().filter(s -> !s.isEmpty()).map(s -> root.resolve(s, "resume_from"));
        CheckpointDirectory from = start.isPresent() ? CheckpointDirectory.open(root.path(), start.get()) : null;
        TokenStream.Config streamConfig =
                TrainingCorpus.streamConfig(data, CorpusDirectory.Split.TRAIN, options, shuffle);
        Optional<Path> streamState = from == null ? Optional.empty() : from.existing(TrainingRuns.STREAM_STATE);
        TokenStream stream = streamState.isPresent()
                ? TokenStream.resume(tokenizer, streamConfig, TokenStream.State.read(streamState.get()))
                : TokenStream.start(tokenizer, streamConfig);

        List<ComputeBackend> backends = ComputeBackends.createRanks(backendName(), a.devices());
        List<Collective> collectives = List.of();
        try {
            List<PlaidParameters> replicas = new ArrayList<>();
            for (ComputeBackend backend : backends) {
                if (from == null && a.spec().hasWeightsFrom())
                    replicas.add(CheckpointDirectory.open(
                                    root.path(), root.resolve(a.spec().getWeightsFrom(), "spec.weights_from"))
                            .loadWeights(options, backend));
                else replicas.add(PlaidParameters.initialize(options, backend, options.seed));
            }
            collectives = collectives(a, backends);
            List<Collective> group = collectives;
            // A peer lost: wake this worker's ranks waiting in a collective for it.
            context.onAbort(() -> group.forEach(c -> c.abort(new IllegalStateException("the attempt was aborted"))));
            try (DataParallelTrainer dp = new DataParallelTrainer(
                    options,
                    replicas,
                    collectives,
                    new RandomSource(options.seed),
                    TrainingCorpus.batches(stream),
                    0,
                    plaid.backend.GradientBuckets.DEFAULT_CAP_BYTES,
                    a.firstRank(),
                    a.worldSize())) {
                int next = 0;
                for (Trainer t : dp.trainers()) next = from == null ? 0 : TrainingCheckpoint.restore(t, from);
                if (a.holdsRankZero()) {
                    context.message("worker ranks %d-%d of %d on %s (%s), %d rows each per micro-batch"
                            .formatted(
                                    a.firstRank(),
                                    a.firstRank() + a.devices() - 1,
                                    a.worldSize(),
                                    backends.getFirst().name(),
                                    ComputeBackends.isCuda(backends) ? "NCCL" : "TCP reference all-reduce",
                                    options.batchSize / a.worldSize()));
                    int resumed = next;
                    start.ifPresent(
                            s -> context.message("resuming at step %d from %s".formatted(resumed, root.relative(s))));
                }
                return new Loop(a, context, root, plan, dp, stream, data, shuffle).from(next);
            }
        } finally {
            collectives.forEach(Collective::close);
            backends.forEach(ComputeBackend::close);
        }
    }

    private List<Collective> collectives(RankAssignment a, List<ComputeBackend> backends) throws IOException {
        if (ComputeBackends.isCuda(backends))
            return ComputeBackends.ncclWorld(backends, a.uniqueId(), a.firstRank(), a.worldSize());
        List<Collective> out = new ArrayList<>();
        // Rank 0 accepts the others while they connect; one thread per local rank, as NCCL's init blocks too.
        List<Thread> threads = new ArrayList<>();
        Exception[] failure = {null};
        for (int i = 0; i < backends.size(); i++) out.add(null);
        for (int i = 0; i < backends.size(); i++) {
            int local = i, rank = a.firstRank() + i;
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    SocketCollective c = rank == 0
                            ? SocketCollective.root(takeListening(), a.worldSize(), backends.get(local), CONNECT_MILLIS)
                            : SocketCollective.join(
                                    a.uniqueId(), rank, a.worldSize(), backends.get(local), CONNECT_MILLIS);
                    synchronized (out) {
                        out.set(local, c);
                    }
                } catch (Exception e) {
                    synchronized (out) {
                        failure[0] = e;
                    }
                }
            }));
        }
        try {
            for (Thread t : threads) t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while the ranks connected", e);
        }
        synchronized (out) {
            if (failure[0] != null) {
                out.stream().filter(c -> c != null).forEach(Collective::close);
                throw new IOException("the CPU collective could not connect: " + failure[0].getMessage(), failure[0]);
            }
            return List.copyOf(out);
        }
    }

    private synchronized ServerSocket takeListening() throws IOException {
        if (listening == null) throw new IOException("rank 0's worker has no listening socket (no unique id made)");
        ServerSocket s = listening;
        listening = null;
        return s;
    }

    /** One attempt's loop: the step, report, validate, checkpoint order of the service's own jobs. */
    private record Loop(
            RankAssignment a,
            RankContext context,
            RunRoot root,
            RunPlan plan,
            DataParallelTrainer dp,
            TokenStream stream,
            TrainingCorpus.Prepared data,
            int shuffle) {
        Outcome from(int next) throws IOException {
            PlaidConfig options = plan.config();
            boolean reports = a.holdsRankZero();
            int lastCheckpoint = next;
            long reportedAt = System.nanoTime();
            int reportedSteps = next;
            for (int step = next; step < options.steps; step++) {
                if (context.aborted()) return Outcome.STOPPED;
                // Every worker leaves at the same step, even when only one has been told to stop.
                if (dp.anyProcess(context.stopRequested())) {
                    if (reports && step > lastCheckpoint) checkpoint(step);
                    return Outcome.STOPPED;
                }
                Trainer.StepMetrics m = dp.step(step).metrics();
                int done = step + 1;
                context.progress(done);
                if (reports && (done % options.printFreq == 0 || done == options.steps)) {
                    long now = System.nanoTime();
                    double perStep = (now - reportedAt) / 1e9 / (done - reportedSteps);
                    context.metrics(metrics(m, plan.tokensPerStep() / perStep, perStep * (options.steps - done)));
                    reportedAt = now;
                    reportedSteps = done;
                }
                if (reports && done % options.hookFreq == 0 && done < options.steps) validate(done, options.valSteps);
                if (reports && done % plan.checkpointFreq() == 0 && done < options.steps) {
                    checkpoint(done);
                    lastCheckpoint = done;
                }
            }
            if (reports) {
                if (lastCheckpoint < options.steps) checkpoint(options.steps);
                if (options.finalValSteps == 0)
                    context.message("finished %d steps over %d ranks (no final validation)"
                            .formatted(options.steps, a.worldSize()));
                else
                    context.message("finished %d steps over %d ranks: final validation NLL %.4f nats/token"
                            .formatted(options.steps, a.worldSize(), validate(options.steps, options.finalValSteps)));
            }
            return Outcome.SUCCEEDED;
        }

        private static StepMetrics metrics(Trainer.StepMetrics m, double tokensPerSecond, double etaSeconds) {
            return StepMetrics.newBuilder()
                    .setStep(m.step())
                    .setLoss(m.loss())
                    .setNll(m.nll())
                    .setReconst(m.reconst())
                    .setPrior(m.prior())
                    .setGamma0(m.gamma0())
                    .setGamma1(m.gamma1())
                    .setReconstBatchSize(m.reconstBs())
                    .setGradNorm(m.gradNorm())
                    .setLrFactor(m.lrFactor())
                    .setSeconds(m.seconds())
                    .setTokensPerSecond(tokensPerSecond)
                    .setEtaSeconds(etaSeconds)
                    .build();
        }

        /** train.py's validation on rank 0 (the other workers wait in their next collective). */
        private double validate(int done, int steps) {
            PlaidConfig options = plan.config();
            TokenStream validation = TokenStream.start(
                    data.tokenizer(),
                    TrainingCorpus.streamConfig(data, CorpusDirectory.Split.VALIDATION, options, shuffle));
            int every = Math.max(1, steps / 10);
            double nll = dp.onPrimary(() -> dp.primary()
                    .validationNll(
                            TrainingCorpus.batches(validation), steps, options.valBatchSize, options.seed, batches -> {
                                if (batches % every == 0 && batches < steps)
                                    context.validating(ValidationProgress.newBuilder()
                                            .setStep(done)
                                            .setBatchesDone(batches)
                                            .setBatches(steps)
                                            .build());
                            }));
            if (!Double.isFinite(nll)) throw new TrainingDivergedException(done, "the validation NLL", nll);
            context.validation(
                    ValidationResult.newBuilder().setStep(done).setNll(nll).build());
            return nll;
        }

        /** The service's checkpoint files, written by rank 0's worker; the coordinator records it and drops old ones. */
        private void checkpoint(int done) throws IOException {
            Trainer trainer = dp.primary();
            var poisoned = dp.onPrimary(trainer::nonFiniteWeight);
            if (poisoned.isPresent())
                throw new TrainingDivergedException(done - 1, "weight " + poisoned.get(), Double.NaN);
            Path dir = root.checkpoint(a.jobId(), plan.config().modelSavePath, done);
            CheckpointFormat format = CheckpointFormat.valueOf(
                    System.getProperty("trainer-svc.checkpoint-format", CheckpointFormat.TORCH.name()));
            dp.onPrimary(() -> {
                try {
                    TrainingCheckpoint.save(trainer, done - 1, dir, format);
                    return null;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            stream.state().write(dir.resolve(TrainingRuns.STREAM_STATE));
            CheckpointDirectory.writeTokenizer(dir, data.tokenizerFile());
            context.checkpoint(CheckpointInfo.newBuilder()
                    .setStep(done)
                    .setPath(root.relative(dir))
                    .setResumable(true)
                    .build());
        }
    }
}

package plaid.trainer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import plaid.backend.Collective;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.backend.GradientBuckets;
import plaid.backend.SocketCollective;
import plaid.model.CheckpointDirectory;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.model.parallel.DataParallelTrainer;
import plaid.options.PlaidConfig;
import plaid.text.TokenStream;
import plaid.trainer.cluster.RankAssignment;
import plaid.trainer.cluster.RankContext;
import plaid.trainer.cluster.RankRunner;

/**
 * The real ranks of a multi-machine job ({@code --runner plaid}): this worker's {@code devices}
 * ranks train with {@link DataParallelTrainer} as the world's ranks {@code firstRank ..}, every
 * worker drawing the same steps from the same seed and data stream, the gradients averaged over
 * the whole world. On CUDA the collective is NCCL (ncclCommInitRank on the id rank 0's worker
 * made); on the CPU it is {@link SocketCollective}, the reference collective over TCP (a test and
 * development aid), whose id is rank 0's {@code host:port}.
 *
 * <p>The coordinator prepared the job's data and tokenizer under the shared root. The ranks run
 * {@link TrainingLoop}, the service's own jobs' loop: every rank validates its share of the
 * batches; rank 0's worker writes the checkpoints (the service's files, without the loss-curve
 * charts) and reports through the {@link RankContext}.
 *
 * <p>Settings from system properties, as the service reads them: {@code plaid.backend} (cpu,
 * cuda, auto; else the environment's PLAID_BACKEND, else auto), {@code
 * trainer-svc.shuffle-buffer-chunks}, {@code trainer-svc.corpus-root}, {@code
 * trainer-svc.checkpoint-format}, and {@code plaid.collective.host} (the address rank 0
 * publishes for the CPU collective; default the machine's name).
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
        var setup = new TrainingLoop.Setup(
                a.jobId(),
                plan,
                root,
                TrainingCorpus.prepared(root, a.jobId(), a.spec().getCorpus()),
                Integer.getInteger("trainer-svc.shuffle-buffer-chunks", 4096),
                CheckpointFormat.valueOf(
                        System.getProperty("trainer-svc.checkpoint-format", CheckpointFormat.TORCH.name())));
        Path start = a.resumeFrom()
                .filter(s -> !s.isEmpty())
                .map(s -> root.resolve(s, "resume_from"))
                .orElse(null);
        CheckpointDirectory from = start == null ? null : CheckpointDirectory.open(root.path(), start);
        TokenStream stream = TrainingLoop.trainingStream(setup, from);

        List<ComputeBackend> backends = ComputeBackends.createRanks(backendName(), a.devices());
        List<Collective> collectives = List.of();
        try {
            List<PlaidParameters> replicas = TrainingLoop.replicas(setup, a.spec(), from, backends);
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
                    GradientBuckets.DEFAULT_CAP_BYTES,
                    a.firstRank(),
                    a.worldSize())) {
                if (plan.zero()) dp.shardOptimizerState();
                int next = TrainingLoop.restore(dp.trainers(), from);
                if (a.holdsRankZero())
                    context.message("worker ranks %d-%d of %d on %s (%s), %d rows each per micro-batch%s"
                            .formatted(
                                    a.firstRank(),
                                    a.firstRank() + a.devices() - 1,
                                    a.worldSize(),
                                    backends.getFirst().name(),
                                    ComputeBackends.isCuda(backends) ? "NCCL" : "TCP reference all-reduce",
                                    options.batchSize / a.worldSize(),
                                    plan.zero() ? "; ZeRO-1: AdamW moments sharded over the ranks" : ""));
                TrainingLoop.Control control = new TrainingLoop.Control() {
                    @Override
                    public boolean stopRequested() {
                        return context.stopRequested();
                    }

                    @Override
                    public boolean aborted() {
                        return context.aborted();
                    }
                };
                return switch (new TrainingLoop(setup, RankGroup.of(dp), stream, control, context).run(next, start)) {
                    case FINISHED -> Outcome.SUCCEEDED;
                    case STOPPED -> Outcome.STOPPED;
                };
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
}

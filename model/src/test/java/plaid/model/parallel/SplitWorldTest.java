package plaid.model.parallel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import plaid.backend.Collective;
import plaid.backend.SocketCollective;
import plaid.backend.cpu.CpuBackend;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.options.PlaidConfig;

/**
 * A world of two ranks split over two "processes" (two DataParallelTrainers, one local rank
 * each, each drawing the steps from its own copy of the seed and the stream, meeting through
 * the TCP reference collective on loopback) is exactly the one-process two-rank run: the same
 * slices, the same sums in the same order, so the losses, metrics and weights are bit-identical.
 */
class SplitWorldTest {
    private static final int STEPS = 6;
    /** Each "process" blocks in collectives: its own thread (the common pool may have one). */
    private static final java.util.concurrent.Executor THREADS =
            r -> Thread.ofPlatform().daemon().start(r);

    @Test
    void twoProcessesOfOneRankEachAreTheTwoRankRun() throws Exception {
        PlaidConfig c = DataParallelTrainerTest.config(2);
        List<Trainer.StepMetrics> together = new ArrayList<>();
        List<float[]> togetherWeights;
        double togetherValidation;
        {
            CpuBackend b0 = new CpuBackend(), b1 = new CpuBackend();
            List<PlaidParameters> replicas =
                    List.of(PlaidParameters.initialize(c, b0, 3), PlaidParameters.initialize(c, b1, 3));
            try (var dp = new DataParallelTrainer(
                    c,
                    replicas,
                    plaid.backend.InProcessCollective.group(List.of(b0, b1)),
                    new RandomSource(5),
                    DataParallelTrainerTest.stream(c, 9),
                    -10)) {
                for (int s = 0; s < STEPS; s++) together.add(dp.step(s).metrics());
                togetherWeights = replicas.get(0).snapshotValues();
                togetherValidation = validation(c, dp);
            }
        }

        ServerSocket server = SocketCollective.listen();
        byte[] id = SocketCollective.address(server, "127.0.0.1");
        CpuBackend b0 = new CpuBackend(), b1 = new CpuBackend();
        CompletableFuture<SocketCollective> root = CompletableFuture.supplyAsync(
                () -> uncheck(() -> SocketCollective.root(server, 2, b0, 10_000)), THREADS);
        SocketCollective other = SocketCollective.join(id, 1, 2, b1, 10_000);
        List<CompletableFuture<Result>> processes = List.of(
                CompletableFuture.supplyAsync(() -> process(c, b0, root.join(), 0), THREADS),
                CompletableFuture.supplyAsync(() -> process(c, b1, other, 1), THREADS));
        Result first = processes.get(0).join(), second = processes.get(1).join();

        for (int s = 0; s < STEPS; s++) {
            Trainer.StepMetrics a = together.get(s), b = first.metrics.get(s), d = second.metrics.get(s);
            assertThat(b.loss()).as("step %d loss", s).isEqualTo(a.loss()).isEqualTo(d.loss());
            assertThat(b.gradNorm()).as("step %d grad norm", s).isEqualTo(a.gradNorm());
            assertThat(b.reconstBs()).isEqualTo(a.reconstBs());
        }
        // Each process evaluates its rank's validation batches: the all-reduced NLL is the same number.
        assertThat(first.validation).isEqualTo(togetherValidation).isEqualTo(second.validation);
        for (int i = 0; i < togetherWeights.size(); i++) {
            assertThat(first.weights.get(i)).containsExactly(togetherWeights.get(i));
            assertThat(second.weights.get(i)).containsExactly(togetherWeights.get(i));
        }
    }

    @Test
    void aLostPeerWakesTheRankWaitingForIt() throws Exception {
        ServerSocket server = SocketCollective.listen();
        byte[] id = SocketCollective.address(server, "127.0.0.1");
        CpuBackend b0 = new CpuBackend(), b1 = new CpuBackend();
        CompletableFuture<SocketCollective> root = CompletableFuture.supplyAsync(
                () -> uncheck(() -> SocketCollective.root(server, 2, b0, 10_000)), THREADS);
        SocketCollective other = SocketCollective.join(id, 1, 2, b1, 10_000);
        SocketCollective zero = root.join();
        // Sums in rank order, and a mean, while both are alive.
        CompletableFuture<double[]> sum =
                CompletableFuture.supplyAsync(() -> zero.allReduce(new double[] {1, 2}, Collective.Op.MEAN), THREADS);
        assertThat(other.allReduce(new double[] {3, 6}, Collective.Op.MEAN)).containsExactly(2, 4);
        assertThat(sum.join()).containsExactly(2, 4);

        // Rank 0 waits for rank 1, which dies: rank 0's collective fails instead of waiting forever.
        CompletableFuture<double[]> waiting =
                CompletableFuture.supplyAsync(() -> zero.allReduce(new double[] {1}, Collective.Op.SUM), THREADS);
        Thread.sleep(200);
        assertThat(waiting).isNotDone();
        other.abort(new IllegalStateException("peer lost"));
        assertThatThrownBy(waiting::join).hasRootCauseInstanceOf(java.io.IOException.class);
        // ...and so does every later one.
        assertThatThrownBy(() -> zero.allReduce(new double[] {1}, Collective.Op.SUM))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("collective failed");

        // An abort on the waiting side (the worker's abort hook) wakes it too.
        ServerSocket server2 = SocketCollective.listen();
        byte[] id2 = SocketCollective.address(server2, "127.0.0.1");
        CompletableFuture<SocketCollective> root2 = CompletableFuture.supplyAsync(
                () -> uncheck(() -> SocketCollective.root(server2, 2, b0, 10_000)), THREADS);
        SocketCollective silent = SocketCollective.join(id2, 1, 2, b1, 10_000);
        SocketCollective zero2 = root2.join();
        CompletableFuture<double[]> stuck =
                CompletableFuture.supplyAsync(() -> zero2.allReduce(new double[] {1}, Collective.Op.SUM), THREADS);
        Thread.sleep(200);
        zero2.abort(new IllegalStateException("the attempt was aborted"));
        assertThatThrownBy(stuck::join).hasMessageContaining("the attempt was aborted");
        silent.close();
    }

    private record Result(List<Trainer.StepMetrics> metrics, List<float[]> weights, double validation) {}

    /** Three batches over two ranks: the second round leaves rank 1 without one. */
    private static double validation(PlaidConfig c, DataParallelTrainer dp) {
        return dp.validationNll(DataParallelTrainerTest.stream(c, 21), 3, 2, 7, batches -> {});
    }

    private static Result process(PlaidConfig c, CpuBackend backend, Collective collective, int rank) {
        PlaidParameters p = PlaidParameters.initialize(c, backend, 3);
        try (var dp = new DataParallelTrainer(
                c,
                List.of(p),
                List.of(collective),
                new RandomSource(5),
                DataParallelTrainerTest.stream(c, 9),
                -10,
                16 << 10,
                rank,
                2)) {
            List<Trainer.StepMetrics> m = new ArrayList<>();
            for (int s = 0; s < STEPS; s++) m.add(dp.step(s).metrics());
            return new Result(m, p.snapshotValues(), validation(c, dp));
        }
    }

    private interface IoSupplier<T> {
        T get() throws Exception;
    }

    private static <T> T uncheck(IoSupplier<T> body) {
        try {
            return body.get();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}

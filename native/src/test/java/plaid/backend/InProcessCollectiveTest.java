package plaid.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import plaid.backend.cpu.CpuBackend;

/** The reference collective: N ranks on N threads, each with its own CPU backend. */
class InProcessCollectiveTest {

    /** Runs {@code body} as every rank on its own thread and returns each rank's result. */
    private static <T> List<T> onRanks(int n, IntFunction<T> body) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<T>> f = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                f.add(pool.submit(() -> body.apply(rank)));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> x : f) out.add(x.get(30, TimeUnit.SECONDS));
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void allReducesBucketsBroadcastsAndReducesHostValues() throws Exception {
        int n = 3;
        List<CpuBackend> backends = List.of(new CpuBackend(), new CpuBackend(), new CpuBackend());
        List<Collective> group = InProcessCollective.group(backends);
        List<float[][]> results = onRanks(n, r -> {
            CpuBackend b = backends.get(r);
            Collective c = group.get(r);
            Tensor x = b.allocate(4), y = b.allocate(2), z = b.allocate(3);
            b.upload(new float[] {r, r + 1, 10 * r, -r}, x);
            b.upload(new float[] {r * r, 1}, y);
            b.upload(new float[] {r, r, r}, z);
            Collective.Pending sum = c.allReduceAsync(List.of(x), Collective.Op.SUM);
            Collective.Pending mean = c.allReduceAsync(List.of(y), Collective.Op.MEAN);
            mean.await();
            sum.await();
            c.broadcast(z, 2);
            double[] host = c.allReduce(new double[] {r, 0.5}, Collective.Op.MEAN);
            c.barrier();
            return new float[][] {b.download(x), b.download(y), b.download(z), {(float) host[0], (float) host[1]}};
        });
        for (float[][] r : results) {
            assertThat(r[0]).containsExactly(3, 6, 30, -3); // Σ over ranks 0, 1, 2
            assertThat(r[1]).containsExactly(5f / 3, 1); // (0 + 1 + 4)/3
            assertThat(r[2]).containsExactly(2, 2, 2); // rank 2's
            assertThat(r[3]).containsExactly(1, 0.5f);
        }
        assertThat(group.get(1).rank()).isEqualTo(1);
        assertThat(group.get(1).ranks()).isEqualTo(3);
    }

    @Test
    void bucketsGradientsInReverseOrderAndAveragesThem() throws Exception {
        int n = 2;
        List<CpuBackend> backends = List.of(new CpuBackend(), new CpuBackend());
        List<Collective> group = InProcessCollective.group(backends);
        List<float[]> out = onRanks(n, r -> {
            CpuBackend b = backends.get(r);
            List<Tensor> grads = List.of(b.allocate(3), b.allocate(5), b.allocate(2));
            for (int i = 0; i < grads.size(); i++) b.fill(grads.get(i), r * 10 + i);
            // 5 + 2 floats fit a 28-byte bucket; the first gradient makes a second one
            GradientBuckets buckets = new GradientBuckets(group.get(r), grads, 28);
            assertThat(buckets.buckets()).isEqualTo(2);
            buckets.ready(2);
            buckets.ready(1); // completes the first bucket: its reduction starts
            buckets.finish();
            float[] all = new float[10];
            int k = 0;
            for (Tensor g : grads) for (float v : b.download(g)) all[k++] = v;
            return all;
        });
        for (float[] values : out) assertThat(values).containsExactly(5, 5, 5, 6, 6, 6, 6, 6, 7, 7);
    }

    @Test
    void aFailedRankWakesTheOthers() throws Exception {
        List<CpuBackend> backends = List.of(new CpuBackend(), new CpuBackend());
        List<Collective> group = InProcessCollective.group(backends);
        List<String> outcome = onRanks(2, r -> {
            if (r == 1) {
                group.get(1).abort(new IllegalStateException("rank 1 ran out of memory"));
                return "aborted";
            }
            try {
                group.get(0).barrier();
                return "passed";
            } catch (IllegalStateException e) {
                return e.getMessage() + " / " + e.getCause().getCause().getMessage();
            }
        });
        assertThat(outcome.get(0)).contains("collective failed").contains("rank 1 ran out of memory");
        assertThatThrownBy(() -> group.get(1).barrier()).hasMessageContaining("a rank failed");
    }

    @Test
    void refusesMismatchedTensors() throws Exception {
        List<CpuBackend> backends = List.of(new CpuBackend(), new CpuBackend());
        List<Collective> group = InProcessCollective.group(backends);
        List<String> outcome = onRanks(2, r -> {
            try {
                group.get(r).allReduce(backends.get(r).allocate(r + 1), Collective.Op.SUM);
                return "reduced";
            } catch (IllegalStateException e) {
                return e.getMessage();
            }
        });
        assertThat(outcome).allMatch(m -> m.contains("rank 1 passed 2 values, rank 0 1"));
    }
}

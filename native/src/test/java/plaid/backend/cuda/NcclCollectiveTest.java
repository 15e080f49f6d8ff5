package plaid.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import plaid.backend.Collective;
import plaid.backend.GradientBuckets;
import plaid.backend.Tensor;

/**
 * The NCCL collective on one GPU (one rank): values, and the gradient all-reduce's throughput
 * at the 1B model's gradient size, timed on its communication stream, printed against the card's
 * device-to-device copy bandwidth.
 */
class NcclCollectiveTest {
    /** Plaid 1B's shape (dim 2048, 24 blocks): ≈ 12·dim² weights per block. */
    private static final int DIM = 2048, BLOCKS = 24;

    @Test
    void oneRankReducesBroadcastsAndReducesHostValues() {
        CudaRequirement.requireCuda();
        try (CudaBackend backend = new CudaBackend()) {
            Collective c = NcclCollective.group(List.of(backend)).getFirst();
            try {
                float[] a = new float[1000], b = new float[17];
                for (int i = 0; i < a.length; i++) a[i] = i * 0.5f - 3;
                for (int i = 0; i < b.length; i++) b[i] = -i;
                Tensor x = backend.allocate(a.length), y = backend.allocate(b.length);
                backend.upload(a, x);
                backend.upload(b, y);
                c.allReduceAsync(List.of(x, y), Collective.Op.SUM).await();
                assertThat(backend.download(x)).containsExactly(a);
                c.allReduce(y, Collective.Op.MEAN);
                assertThat(backend.download(y)).containsExactly(b);
                c.broadcast(x, 0);
                assertThat(backend.download(x)).containsExactly(a);
                assertThat(c.allReduce(new double[] {Math.PI, -1e300, 7}, Collective.Op.MEAN))
                        .containsExactly(Math.PI, -1e300, 7);
                c.barrier();
                assertThat(c.rank()).isZero();
                assertThat(c.ranks()).isEqualTo(1);
            } finally {
                c.close();
            }
        }
    }

    /**
     * The multi-process path (ncclGetUniqueId in one process, ncclCommInitRank in each): here
     * one process joins all {@code -Dplaid.nccl.ranks} GPUs (default 1) through the id, grouped
     * as a worker with several GPUs does, and each rank's values sum over the world.
     */
    @Test
    void ranksJoinAWorldByItsUniqueId() throws Exception {
        CudaRequirement.requireCuda();
        int n = Integer.getInteger("plaid.nccl.ranks", 1);
        List<plaid.backend.ComputeBackend> backends = plaid.backend.ComputeBackends.createRanks("cuda", n);
        try {
            List<Collective> world = NcclCollective.join(
                    backends.stream().map(b -> (CudaBackend) b).toList(), NcclCommunicator.newUniqueId(), 0, n);
            List<Thread> threads = new ArrayList<>();
            float[][] got = new float[n][];
            for (int r = 0; r < n; r++) {
                int rank = r;
                threads.add(Thread.ofPlatform().start(() -> {
                    var b = backends.get(rank);
                    Tensor t = b.allocate(5);
                    b.upload(new float[] {rank, 1, 2, 3, rank * 10}, t);
                    world.get(rank).allReduce(t, Collective.Op.SUM);
                    got[rank] = b.download(t);
                }));
            }
            for (Thread t : threads) t.join();
            float ranksSum = n * (n - 1) / 2f;
            for (int r = 0; r < n; r++) {
                assertThat(world.get(r).rank()).isEqualTo(r);
                assertThat(world.get(r).ranks()).isEqualTo(n);
                assertThat(got[r]).containsExactly(ranksSum, n, 2 * n, 3 * n, 10 * ranksSum);
            }
            world.forEach(Collective::close);
        } finally {
            backends.forEach(plaid.backend.ComputeBackend::close);
        }
    }

    @Test
    void measuresTheGradientAllReduceAtTheOneBillionShape() {
        CudaRequirement.requireCuda();
        try (CudaBackend backend = new CudaBackend()) {
            Collective c = NcclCollective.group(List.of(backend)).getFirst();
            try {
                // one allocation viewed as the 1B model's weight matrices, as the trainer's gradients are
                List<int[]> shapes = new ArrayList<>();
                for (int b = 0; b < BLOCKS; b++) {
                    shapes.add(new int[] {3 * DIM, DIM});
                    shapes.add(new int[] {DIM, DIM});
                    shapes.add(new int[] {4 * DIM, DIM});
                    shapes.add(new int[] {DIM, 4 * DIM});
                    shapes.add(new int[] {DIM});
                    shapes.add(new int[] {DIM});
                }
                long total = 0;
                for (int[] s : shapes) total += (long) s[0] * (s.length > 1 ? s[1] : 1);
                Tensor all = backend.allocate(Math.toIntExact(total));
                backend.fill(all, 1f);
                List<Tensor> grads = new ArrayList<>();
                long offset = 0;
                for (int[] s : shapes) {
                    Tensor v = all.view(offset, s);
                    grads.add(v);
                    offset += v.numel();
                }
                GradientBuckets buckets = new GradientBuckets(c, grads, GradientBuckets.DEFAULT_CAP_BYTES);
                double bytes = total * 4.0;
                buckets.finish(); // warm-up
                buckets.takeTimes();
                int reps = 5;
                double reduceSeconds = 0;
                long t0 = System.nanoTime();
                for (int i = 0; i < reps; i++) {
                    buckets.finish();
                    // on the comm stream, first bucket's start to last one's end (events)
                    reduceSeconds += buckets.takeTimes().spanSeconds() / reps;
                }
                backend.synchronize();
                double hostSeconds = (System.nanoTime() - t0) / 1e9 / reps;

                Tensor copy = backend.allocate(Math.toIntExact(total));
                backend.copy(all, copy);
                backend.synchronize();
                t0 = System.nanoTime();
                for (int i = 0; i < reps; i++) backend.copy(all, copy);
                // the copy runs on the legacy stream, which synchronize() (the backend's stream) does not wait
                // for; a read-back does (the first session's figure, 360 TB/s, timed only the queuing)
                backend.download(copy.view(total - 1, new int[] {1}));
                double copySeconds = (System.nanoTime() - t0) / 1e9 / reps;
                float[] head = backend.download(grads.getLast());
                assertThat(head).containsOnly(1f); // one rank: the mean is the value itself
                System.out.printf(
                        "NCCL all-reduce, %d ranks, 1B-shape gradients (%.2f GB in %d buckets): %.3f ms on the"
                                + " comm stream (%.3f ms host), %.1f GB/s%s; device copy of the same bytes %.2f ms,"
                                + " %.1f GB/s (read+write %.1f GB/s); %s%n",
                        c.ranks(),
                        bytes / 1e9,
                        buckets.buckets(),
                        reduceSeconds * 1e3,
                        hostSeconds * 1e3,
                        bytes / reduceSeconds / 1e9,
                        c.ranks() == 1 ? " (one rank moves no bytes: NCCL's per-call cost)" : "",
                        copySeconds * 1e3,
                        bytes / copySeconds / 1e9,
                        2 * bytes / copySeconds / 1e9,
                        backend.name());
                // a copy reads and writes every byte: at most a few TB/s on any card, so a figure above
                // 10 TB/s would mean the wait did not wait
                assertThat(bytes / copySeconds).isLessThan(10e12);
                assertThat(reduceSeconds).isPositive();
            } finally {
                c.close();
            }
        }
    }
}

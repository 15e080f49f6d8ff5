package plaid.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import plaid.backend.Collective;
import plaid.backend.GradientBuckets;
import plaid.backend.Tensor;
import plaid.backend.cuda.bind.CudaDriver;

/**
 * The communication stream's ordering on one GPU, with device copies standing in for NCCL (a
 * one-rank reduction is the identity, so its values cannot tell an ordering bug): work on one
 * stream is made long enough that a missing wait would read or overwrite a value too early.
 */
class CommStreamTest {
    private static final int N = 4096;

    /** Seconds of GEMMs (N³ each) queued on the compute stream, so what follows comes late. */
    private static void busyCompute(CudaBackend backend, Tensor a, Tensor b, Tensor d, int gemms) {
        for (int i = 0; i < gemms; i++) backend.gemm(false, false, 1f, a, b, 0f, d);
    }

    /** Device copies of {@code bytes}, {@code times} over, queued on the comm stream. */
    private static void busyComm(CommStream s, Tensor from, Tensor to, int times) {
        long bytes = from.numel() * Float.BYTES;
        for (int i = 0; i < times; i++)
            CudaDriver.check(
                    CudaDriver.cuMemcpyDtoDAsync(
                            CudaBackend.cuda(to).address(),
                            CudaBackend.cuda(from).address(),
                            bytes,
                            s.handle()),
                    "cuMemcpyDtoDAsync");
    }

    private static void copyOnComm(CommStream s, Tensor from, Tensor to) {
        CudaDriver.check(
                CudaDriver.cuMemcpyDtoDAsync(
                        CudaBackend.cuda(to).address(),
                        CudaBackend.cuda(from).address(),
                        from.numel() * Float.BYTES,
                        s.handle()),
                "cuMemcpyDtoDAsync");
    }

    @Test
    void aBucketWaitsForTheComputeBeforeItAndTheComputeAfterItsAwaitWaitsForIt() {
        CudaRequirement.requireCuda();
        try (CudaBackend backend = new CudaBackend();
                CommStream s = new CommStream(backend)) {
            Tensor a = backend.allocate(N, N), b = backend.allocate(N, N), d = backend.allocate(N, N);
            Tensor big = backend.allocate(1 << 28), big2 = backend.allocate(1 << 28); // 1 GiB each
            Tensor x = backend.allocate(1024), y = backend.allocate(1024);
            backend.fill(a, 1e-3f);
            backend.fill(b, 1e-3f);
            backend.fill(x, 1f);
            backend.synchronize();

            busyCompute(backend, a, b, d, 20);
            backend.scale(x, 3f); // x = 3, after the GEMMs
            s.startBucket();
            busyComm(s, big, big2, 8);
            copyOnComm(s, x, y); // y = 3 only if the comm stream waited for the compute
            long bucket = s.endBucket();
            s.awaitBucket(bucket);
            backend.scale(y, 2f); // 6 only if the compute waited for the copy: 0 then 3, else
            assertThat(backend.download(y)).containsOnly(6f);

            Collective.ReductionTimes times = s.takeTimes();
            assertThat(times.spanSeconds()).isPositive();
            // the bucket started after the compute it waited for: all of it came after its inputs were ready
            assertThat(times.exposedSeconds()).isBetween(times.spanSeconds() * 0.99, times.spanSeconds());
            assertThat(s.takeTimes()).isEqualTo(new Collective.ReductionTimes(0, 0));
        }
    }

    @Test
    void theStreamsWaitForEachOtherBothWays() {
        CudaRequirement.requireCuda();
        try (CudaBackend backend = new CudaBackend();
                CommStream s = new CommStream(backend)) {
            Tensor big = backend.allocate(1 << 28), big2 = backend.allocate(1 << 28);
            Tensor a = backend.allocate(N, N), b = backend.allocate(N, N), d = backend.allocate(N, N);
            Tensor z = backend.allocate(1024), w = backend.allocate(1024);
            backend.fill(z, 1f);
            backend.fill(w, 5f);
            backend.synchronize();

            s.commAfterCompute();
            busyComm(s, big, big2, 8);
            copyOnComm(s, w, z); // z = 5, late on the comm stream
            s.computeAfterComm();
            backend.scale(z, 2f); // 10 only if the compute waited
            assertThat(backend.download(z)).containsOnly(10f);

            busyCompute(backend, a, b, d, 20);
            backend.scale(w, 3f); // w = 15, late on the compute stream
            s.commAfterCompute();
            copyOnComm(s, w, z);
            s.computeAfterComm();
            assertThat(backend.download(z)).containsOnly(15f);
        }
    }

    /**
     * A simulated backward on one NCCL rank: buckets marked ready between stretches of compute
     * reduce on the comm stream while the compute goes on, so most of their span overlaps it.
     */
    @Test
    void bucketsReduceDuringTheBackward() {
        CudaRequirement.requireCuda();
        try (CudaBackend backend = new CudaBackend()) {
            Collective c = NcclCollective.group(List.of(backend)).getFirst();
            try {
                Tensor a = backend.allocate(N, N), b = backend.allocate(N, N), d = backend.allocate(N, N);
                int grads = 8;
                List<Tensor> g = java.util.stream.IntStream.range(0, grads)
                        .mapToObj(i -> backend.allocate(1 << 20))
                        .toList();
                for (Tensor t : g) backend.fill(t, 0.5f);
                // 4 MiB each and a 4 MiB cap: one bucket per gradient, the last one first
                GradientBuckets buckets = new GradientBuckets(c, g, 4L << 20);
                assertThat(buckets.buckets()).isEqualTo(grads);
                for (int step = 0; step < 2; step++) { // the first warms NCCL and cuBLAS up
                    for (int i = grads - 1; i >= 0; i--) {
                        busyCompute(backend, a, b, d, 3);
                        buckets.ready(i);
                    }
                    buckets.finish();
                    Collective.ReductionTimes times = buckets.takeTimes();
                    if (step == 0) continue;
                    assertThat(buckets.startedEarly()).isEqualTo(grads);
                    assertThat(times.spanSeconds()).isPositive();
                    // seven stretches of GEMMs lie between the first bucket's start and the last one's
                    assertThat(times.exposedSeconds()).isLessThan(times.spanSeconds() / 2);
                    System.out.printf(
                            "comm stream, one rank: %d buckets over %.2f ms of backward, %.3f ms after it%n",
                            grads, times.spanSeconds() * 1e3, times.exposedSeconds() * 1e3);
                }
                for (Tensor t : g) assertThat(backend.download(t)).containsOnly(0.5f);
            } finally {
                c.close();
            }
        }
    }
}

package plaid.backend.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * SGEMM throughput against the machine's measured FMA peak (not a test: tagged "benchmark",
 * which surefire skips unless asked).
 *
 * <pre>
 * ./mvnw -q -o test -pl bench -am -Dbench -Dtest=GemmBenchmark -Dsurefire.failIfNoSpecifiedTests=false [-Dgemm.bench.filter=name-part]
 * </pre>
 * or, without Surefire, through {@link #main} (a filter argument selects shapes):
 * <pre>
 * ./mvnw -q -o test-compile -pl bench -am
 * $JAVA25/bin/java --add-modules jdk.incubator.vector -cp native/target/classes:bench/target/test-classes \
 *     plaid.backend.cpu.GemmBenchmark [name-part]
 * </pre>
 *
 * <p>Shapes: 1024³, then the small Plaid model's linear layers (D 384, a batch of 8×256 = 2048
 * tokens, vocabulary 32768) as the denoiser calls them: forward x·Wᵀ (NT), input gradient
 * dY·W (NN), weight gradient dYᵀ·x (TN), and the 16-wide embedding's products.
 *
 * <p>In native's package, though it lives in the bench module, to time the package-private
 * {@link Gemm} kernel itself rather than through a tensor.
 */
@Tag("benchmark")
class GemmBenchmark {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int TOKENS = 8 * 256, D = 384, VOCAB = 32768, EMBED = 16;

    private record Shape(String name, boolean transA, boolean transB, int m, int n, int k) {
        double flops() {
            return 2.0 * m * n * k;
        }
    }

    private static List<Shape> shapes() {
        List<Shape> s = new ArrayList<>();
        s.add(new Shape("square 1024^3", false, false, 1024, 1024, 1024));
        s.add(new Shape("square 1024^3 NT", false, true, 1024, 1024, 1024));
        s.add(new Shape("square 1024^3 TN", true, false, 1024, 1024, 1024));
        // forward: out[T, o] = x[T, i] · W[o, i]ᵀ
        s.add(new Shape("fwd qkv 384->1152", false, true, TOKENS, 3 * D, D));
        s.add(new Shape("fwd attn_out 384->384", false, true, TOKENS, D, D));
        s.add(new Shape("fwd fc1 384->1536", false, true, TOKENS, 4 * D, D));
        s.add(new Shape("fwd fc2 1536->384", false, true, TOKENS, D, 4 * D));
        s.add(new Shape("fwd head 384->32768", false, true, TOKENS, VOCAB, D));
        // backward, input gradient: dx[T, i] = dY[T, o] · W[o, i]
        s.add(new Shape("bwd dx qkv", false, false, TOKENS, D, 3 * D));
        s.add(new Shape("bwd dx attn_out", false, false, TOKENS, D, D));
        s.add(new Shape("bwd dx fc1", false, false, TOKENS, D, 4 * D));
        s.add(new Shape("bwd dx fc2", false, false, TOKENS, 4 * D, D));
        s.add(new Shape("bwd dx head", false, false, TOKENS, D, VOCAB));
        // backward, weight gradient: dW[o, i] += dY[T, o]ᵀ · x[T, i]
        s.add(new Shape("bwd dW qkv", true, false, 3 * D, D, TOKENS));
        s.add(new Shape("bwd dW attn_out", true, false, D, D, TOKENS));
        s.add(new Shape("bwd dW fc1", true, false, 4 * D, D, TOKENS));
        s.add(new Shape("bwd dW fc2", true, false, D, 4 * D, TOKENS));
        s.add(new Shape("bwd dW head", true, false, VOCAB, D, TOKENS));
        // the narrow embedding (16 wide): input projection, logits against it, its reconstruction
        s.add(new Shape("emb fwd input 16->384", false, true, TOKENS, D, EMBED));
        s.add(new Shape("emb fwd logits z.E^T", false, true, TOKENS, VOCAB, EMBED));
        s.add(new Shape("emb fwd reconst p.E", false, false, TOKENS, EMBED, VOCAB));
        s.add(new Shape("emb bwd dx input", false, false, TOKENS, EMBED, D));
        s.add(new Shape("emb bwd dEmbedding", true, false, VOCAB, EMBED, TOKENS));
        return s;
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0) System.setProperty("gemm.bench.filter", args[0]);
        new GemmBenchmark().sgemmAgainstPeak();
    }

    @Test
    void sgemmAgainstPeak() throws Exception {
        int threads = Runtime.getRuntime().availableProcessors();
        System.out.printf(
                Locale.ROOT,
                "CPU: %s, %d threads, %s (%d float lanes); load average %s%n",
                cpuModel(),
                threads,
                F,
                F.length(),
                loadAverage());
        float warm = 0;
        for (int i = 0; i < 200; i++) warm += fmaLoop(20_000); // until C2 has compiled the vector loop
        if (warm == 42.4242f) System.out.println();
        // Best of many short runs, like the GEMM timings below: on a shared machine the best
        // window is the closest to what the cores can do. The CPU-time rate (flops per second
        // of CPU this process got) is the per-core figure, and hardly moves with other load.
        // (The OS counts CPU time in coarse ticks, so that rate is taken over all runs together.)
        double peak = 0, peak1 = 0, flopsAll = 0;
        long cpuAll = 0;
        for (int i = 0; i < 20; i++) {
            long c0 = processCpuNanos();
            double[] all = fmaPeak(threads, 400_000_000L / F.length()), one = fmaPeak(1, 400_000_000L / F.length());
            cpuAll += processCpuNanos() - c0;
            flopsAll += all[1] + one[1];
            peak = Math.max(peak, all[0]);
            peak1 = Math.max(peak1, one[0]);
        }
        double corePeak = flopsAll / cpuAll;
        System.out.printf(
                Locale.ROOT,
                "FMA peak: %.1f GFLOP/s (%d threads), %.1f GFLOP/s (1 thread), %.1f GFLOP per CPU-second (one core)%n",
                peak,
                threads,
                peak1,
                corePeak);

        String filter = System.getProperty("gemm.bench.filter", "");
        Random rnd = new Random(1);
        warmUpGemm(rnd);
        System.out.printf(
                Locale.ROOT,
                "%-24s %5s %6s %6s %6s %9s %8s %7s %11s %7s%n",
                "shape",
                "op",
                "m",
                "n",
                "k",
                "ms",
                "GFLOP/s",
                "%peak",
                "GFLOP/cpu-s",
                "%core");
        for (Shape s : shapes()) {
            if (!s.name.contains(filter)) continue;
            float[] a = random(rnd, s.m * s.k), b = random(rnd, s.k * s.n), c = new float[s.m * s.n];
            float beta = s.transA ? 1f : 0f; // weight gradients accumulate, as in training
            Runnable run = () -> Gemm.multiply(s.transA, s.transB, s.m, s.n, s.k, 1f, a, 0, b, 0, beta, c, 0);
            for (long w0 = System.nanoTime(), i = 0; i < 2 || System.nanoTime() - w0 < 300_000_000L; i++) run.run();
            double best = Double.MAX_VALUE;
            long spent = 0, c0 = processCpuNanos();
            int reps = 0;
            for (; reps < 3 || (spent < 1_500_000_000L && reps < 50); reps++) {
                long t0 = System.nanoTime();
                run.run();
                long dt = System.nanoTime() - t0;
                spent += dt;
                best = Math.min(best, dt);
            }
            double gflops = s.flops() / best, perCore = s.flops() * reps / (processCpuNanos() - c0);
            System.out.printf(
                    Locale.ROOT,
                    "%-24s %5s %6d %6d %6d %9.2f %8.1f %6.1f%% %11.1f %6.1f%%%n",
                    s.name,
                    (s.transA ? "T" : "N") + (s.transB ? "T" : "N"),
                    s.m,
                    s.n,
                    s.k,
                    best / 1e6,
                    gflops,
                    100 * gflops / peak,
                    perCore,
                    100 * perCore / corePeak);
        }
        System.out.println("load average at the end: " + loadAverage());
    }

    /** Until the JIT has compiled the packing and the micro-kernel (C1's boxed vectors are ~100× slower). */
    private static void warmUpGemm(Random rnd) {
        int m = 200, n = 150, k = 300;
        float[] a = random(rnd, m * k), b = random(rnd, k * n), c = new float[m * n];
        long t0 = System.nanoTime();
        while (System.nanoTime() - t0 < 2_000_000_000L) {
            for (int t = 0; t < 4; t++) Gemm.multiply((t & 2) != 0, (t & 1) != 0, m, n, k, 1f, a, 0, b, 0, 0.5f, c, 0);
        }
    }

    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean)
                        java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /** Other processes share the cores; /proc/loadavg says how much. */
    private static String loadAverage() {
        try {
            return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg"))
                    .trim();
        } catch (java.io.IOException | RuntimeException e) {
            return "unknown";
        }
    }

    /**
     * FMA throughput: {GFLOP/s, flops done}. Each thread runs a tight loop of FMAs into
     * 16 independent accumulators (more than latency × issue width, so only throughput limits it).
     */
    private static double[] fmaPeak(int threads, long iterations) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Float>> done = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int t = 0; t < threads; t++) done.add(pool.submit(() -> fmaLoop(iterations / 16)));
            float sink = 0;
            for (Future<Float> f : done) sink += f.get();
            long dt = System.nanoTime() - t0;
            if (sink == 42.4242f) System.out.println(); // keeps the result alive
            double flops = (double) threads * (iterations / 16) * 16 * F.length() * 2;
            return new double[] {flops / dt, flops};
        } finally {
            pool.shutdown();
        }
    }

    private static float fmaLoop(long n) {
        FloatVector x = FloatVector.broadcast(F, 0.999999f), y = FloatVector.broadcast(F, 1e-7f);
        FloatVector a0 = FloatVector.broadcast(F, 0.1f),
                a1 = a0.add(1),
                a2 = a0.add(2),
                a3 = a0.add(3),
                a4 = a0.add(4),
                a5 = a0.add(5),
                a6 = a0.add(6),
                a7 = a0.add(7),
                a8 = a0.add(8),
                a9 = a0.add(9),
                a10 = a0.add(10),
                a11 = a0.add(11),
                a12 = a0.add(12),
                a13 = a0.add(13),
                a14 = a0.add(14),
                a15 = a0.add(15);
        for (long i = 0; i < n; i++) {
            a0 = a0.fma(x, y);
            a1 = a1.fma(x, y);
            a2 = a2.fma(x, y);
            a3 = a3.fma(x, y);
            a4 = a4.fma(x, y);
            a5 = a5.fma(x, y);
            a6 = a6.fma(x, y);
            a7 = a7.fma(x, y);
            a8 = a8.fma(x, y);
            a9 = a9.fma(x, y);
            a10 = a10.fma(x, y);
            a11 = a11.fma(x, y);
            a12 = a12.fma(x, y);
            a13 = a13.fma(x, y);
            a14 = a14.fma(x, y);
            a15 = a15.fma(x, y);
        }
        return a0.add(a1)
                .add(a2)
                .add(a3)
                .add(a4)
                .add(a5)
                .add(a6)
                .add(a7)
                .add(a8)
                .add(a9)
                .add(a10)
                .add(a11)
                .add(a12)
                .add(a13)
                .add(a14)
                .add(a15)
                .reduceLanes(VectorOperators.ADD);
    }

    private static float[] random(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = rnd.nextFloat() - 0.5f;
        return x;
    }

    private static String cpuModel() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name"))
                    return line.substring(line.indexOf(':') + 1).trim();
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux: fall through
        }
        return System.getProperty("os.arch");
    }
}

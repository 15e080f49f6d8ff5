package plaid.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.backend.MatmulPrecision;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.backend.cpu.CpuBackend;
import plaid.model.Denoiser;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;

/**
 * Batch invariance of the step-level engine on the backend {@code -Dplaid.backend} names (gpu/run-tests.sh
 * runs it on CUDA, in fp32/TF32 and in the bf16 mode): how far a row's GEMM outputs, logits and x̂ move
 * when other rows share its forward, and how many sampled ids of requests joining a batch at random
 * steps differ from a run alone. On the CPU every op works per row (SamplerBatchTest): all exact.
 * On a device the GEMM library may pick another algorithm (tiling, split-K) for another row count,
 * so a row's sums can change order; the test names which op moves and bounds by how much.
 */
class SamplerBatchInvarianceParityTest {
    private final ComputeBackend be = ComputeBackends.fromSystemProperty();
    private final boolean exact = be instanceof CpuBackend;
    /** The relative bound on a forward's movement off the CPU: the precision's rounding of a row's sums. */
    private final double bound = "bf16".equalsIgnoreCase(System.getProperty("plaid.cuda.precision")) ? 3e-2 : 3e-3;

    private final int vocab = exact ? 64 : 4096, seqLen = exact ? 8 : 64;
    private final PlaidConfig c = TinyModel.config(vocab, !exact);
    private final PlaidParameters params = TinyModel.randomise(PlaidParameters.initialize(c, be, 7), 7);

    @Test
    void aRowsForwardMovesWithinTheBoundWhenOtherRowsShareIt() {
        SplittableRandom random = new SplittableRandom(1);
        int rows = 2, e = c.embedDim, dim = c.dim;
        float[] z = gaussian(random, rows * seqLen * e), sc = gaussian(random, rows * seqLen * e);
        double[] gammas = {-3.0, 1.5};
        Forward alone = forward(rows, z, sc, gammas, random);
        float[][] gemmAlone = gemms(rows, random);
        List<String> moved = new ArrayList<>();
        for (int total : new int[] {3, 8, 15, 32}) {
            // the same rows at the start of a larger batch whose other rows are random
            Forward shared = forward(total, z, sc, gammas, random);
            double logits = relativeDiff(alone.logits, shared.logits), x = relativeDiff(alone.x, shared.x);
            float[][] gemmShared = gemms(total, random);
            StringBuilder probes = new StringBuilder();
            boolean gemmMoved = false;
            Probe[] shapes = probes();
            for (int p = 0; p < shapes.length; p++) {
                double change = relativeDiff(gemmAlone[p], gemmShared[p]);
                probes.append(", GEMM %s %.2e".formatted(shapes[p].describe(), change));
                if (change > 0) {
                    gemmMoved = true;
                    moved.add("GEMM " + shapes[p].describe() + " (" + total + " rows)");
                }
            }
            System.out.printf(
                    "batch invariance on %s, %d rows alone vs among %d: max relative change of logits %.2e, x̂ %.2e%s%n",
                    be.name(), rows, total, logits, x, probes);
            if (exact) {
                assertThat(logits).as("logits among %d rows", total).isZero();
                assertThat(x).as("x̂ among %d rows", total).isZero();
            } else {
                // rows bleeding into each other (a wrong mask or stride) would move them by O(1)
                assertThat(logits).as("logits among %d rows", total).isLessThanOrEqualTo(bound);
                assertThat(x).as("x̂ among %d rows", total).isLessThanOrEqualTo(bound);
                // every op but the GEMMs works per row (norms, rotary, attention per row and head, argmax); the probes
                // call the plain product, while the forward's may go through cuBLASLt with an epilogue or bf16 copies,
                // whose algorithm choice they cannot reproduce: so a move with no probe moving is named, not failed
                if (!gemmMoved && Math.max(logits, x) > 0)
                    moved.add("the forward, through products the probes do not reproduce (" + total + " rows)");
            }
        }
        System.out.println("ops that moved with the batch's size: " + (moved.isEmpty() ? "none" : moved));
    }

    @Test
    void mixedRequestsJoiningAtRandomStepsGetTheirIdsAlone() {
        SplittableRandom random = new SplittableRandom(42);
        Map<Integer, SamplingRequest> requests = new LinkedHashMap<>();
        Map<Integer, Integer> joinAt = new LinkedHashMap<>();
        for (int i = 0; i < 12; i++) {
            SamplingRequest r = SamplingRequest.defaults(random.nextBoolean() ? seqLen : seqLen / 2)
                    .withSamples(1 + random.nextInt(3))
                    .withSteps(4 + random.nextInt(28))
                    .withScoreTemp(random.nextBoolean() ? 0.9 : 0.6 + random.nextDouble())
                    .withUpdate(random.nextBoolean() ? SamplingRequest.Update.ANCESTRAL : SamplingRequest.Update.DDIM);
            if (random.nextInt(3) == 0)
                r = r.withGuidance(Guidance.prefix(new int[] {random.nextInt(vocab), random.nextInt(vocab)}, 3.0));
            requests.put(i, r);
            joinAt.put(i, random.nextInt(24));
        }
        Map<Integer, int[][]> alone = new LinkedHashMap<>();
        for (var r : requests.entrySet())
            alone.put(
                    r.getKey(),
                    new DiffusionSampler(c, params, seqLen)
                            .sample(r.getValue(), NoiseSource.seeded(r.getKey()), 0, null));

        SamplerBatch batch = new SamplerBatch(c, params, seqLen);
        batch.padRowsToBuckets(32L * seqLen); // as a server runs it: lanes padded to row buckets
        Map<Integer, Trajectory> running = new LinkedHashMap<>();
        Map<Integer, int[][]> shared = new LinkedHashMap<>();
        int maxRows = 0;
        for (int step = 0; shared.size() < requests.size(); step++) {
            for (var r : requests.entrySet())
                if (joinAt.get(r.getKey()) == step)
                    running.put(r.getKey(), batch.start(r.getValue(), NoiseSource.seeded(r.getKey()), 0, null));
            maxRows = Math.max(maxRows, SamplerBatchTest.stepOnce(batch, running, shared));
        }
        int ids = 0, differ = 0, requestsDiffering = 0;
        for (int i : requests.keySet()) {
            int d = 0;
            for (int row = 0; row < alone.get(i).length; row++)
                for (int k = 0; k < alone.get(i)[row].length; k++, ids++)
                    if (alone.get(i)[row][k] != shared.get(i)[row][k]) d++;
            differ += d;
            if (d > 0) requestsDiffering++;
        }
        System.out.printf(
                "batch invariance on %s: %d requests (up to %d rows together), %d of %d ids differ from a run alone"
                        + " (%d requests differ)%n",
                be.name(), requests.size(), maxRows, differ, ids, requestsDiffering);
        assertThat(maxRows).as("requests overlapped in the batch").isGreaterThan(6);
        if (exact) assertThat(differ).isZero();
        // off the CPU the GEMMs' last bits move x̂ (bounded above); the sampled ids may flip where two logits
        // nearly tie, but not wholesale
        else assertThat((double) differ / ids).isLessThanOrEqualTo(0.1);
    }

    private record Forward(float[] logits, float[] x) {}

    /** Logits and x̂ of the rows of {@code gammas} at the start of a forward over {@code total} rows, the others random. */
    private Forward forward(int total, float[] z, float[] sc, double[] gammas, SplittableRandom random) {
        int e = c.embedDim, rows = gammas.length, perRow = seqLen * e;
        float[] zAll = Arrays.copyOf(z, total * perRow), scAll = Arrays.copyOf(sc, total * perRow);
        double[] gAll = Arrays.copyOf(gammas, total);
        for (int k = z.length; k < zAll.length; k++) {
            zAll[k] = (float) random.nextGaussian();
            scAll[k] = (float) random.nextGaussian();
        }
        for (int r = rows; r < total; r++) gAll[r] = -5 + 10 * random.nextDouble();
        return MatmulPrecision.withTf32(() -> {
            Denoiser d = new Denoiser(c, params, total, seqLen);
            Tensor embedding = be.allocate(vocab, e),
                    zt = be.allocate(total * seqLen, e),
                    sct = be.allocate(total * seqLen, e);
            be.upload(params.normalizedEmbedding(), embedding);
            be.upload(zAll, zt);
            be.upload(scAll, sct);
            d.forward(zt, gAll, embedding, 1.0, sct, null, Segments.whole(total, seqLen), false);
            float[] logits = be.download(d.logits()), x = be.download(d.xReconst());
            return new Forward(Arrays.copyOf(logits, rows * seqLen * vocab), Arrays.copyOf(x, rows * perRow));
        });
    }

    /**
     * The forward's GEMM shapes, A [M×k] times B (op(B) [k×n]): the block's input products, its output
     * products, the head's logits and the softmax expectation x̂ = softmax·Ê. cuBLAS may pick another
     * algorithm (split-K, tile) for another M, which moves a row's sums; nothing else in the forward can.
     */
    private record Probe(String name, int k, int n, boolean transB) {
        String describe() {
            return "%s [M×%d]·[%d×%d]".formatted(name, k, k, n);
        }
    }

    /** Weights are [n×k] (nn.Linear); the embedding of x̂'s product is [V×e]. */
    private Probe[] probes() {
        int d = c.dim;
        return new Probe[] {
            new Probe("qkv", d, 3 * d, true),
            new Probe("fc1", d, 4 * d, true),
            new Probe("attn_out", d, d, true),
            new Probe("fc2", 4 * d, d, true),
            new Probe("logits", d, vocab, true),
            new Probe("x̂", vocab, c.embedDim, false),
        };
    }

    /** Each probe's product for {@code total} rows whose first ones are always the same; their rows' results. */
    private float[][] gemms(int total, SplittableRandom random) {
        int m = total * seqLen, fixedRows = 2 * seqLen;
        return MatmulPrecision.withTf32(() -> {
            Probe[] shapes = probes();
            float[][] out = new float[shapes.length][];
            for (int p = 0; p < shapes.length; p++) {
                int k = shapes[p].k(), n = shapes[p].n();
                SplittableRandom fixed = new SplittableRandom(7 + p); // the same rows and weights every time
                float[] all = new float[m * k];
                System.arraycopy(gaussian(fixed, fixedRows * k), 0, all, 0, fixedRows * k);
                for (int i = fixedRows * k; i < all.length; i++) all[i] = (float) random.nextGaussian();
                boolean transB = shapes[p].transB();
                Tensor at = be.allocate(m, k), w = transB ? be.allocate(n, k) : be.allocate(k, n);
                Tensor result = be.allocate(m, n);
                be.upload(all, at);
                be.upload(gaussian(fixed, n * k), w);
                be.gemm(false, transB, 1f, at, w, 0f, result);
                out[p] = Arrays.copyOf(be.download(result), fixedRows * n);
            }
            return out;
        });
    }

    private static float[] gaussian(SplittableRandom random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) random.nextGaussian();
        return v;
    }

    /** max |a − b| / max |a|. */
    private static double relativeDiff(float[] a, float[] b) {
        double diff = 0, scale = 0;
        for (int i = 0; i < a.length; i++) {
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(a[i]));
        }
        return diff / scale;
    }
}

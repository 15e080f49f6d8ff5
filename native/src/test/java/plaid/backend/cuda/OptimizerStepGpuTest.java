package plaid.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import plaid.backend.ComputeBackend.AdamWTensors;
import plaid.backend.Tensor;

/**
 * The optimizer step's many-parameter ops on the GPU against their per-parameter forms: the one-launch AdamW
 * (optimizer.cu's adam_w_multi) against the per-parameter kernel, the same arithmetic per element, so bit for
 * bit the same parameters and moments, over sizes that end inside a block, on a block's edge and span many
 * blocks, with an empty parameter among them; and the gradient norm's sums of squares, read back at once,
 * against one sumOfSquares each. Skipped without a GPU unless {@code -Dplaid.cuda.required=true}
 * (gpu/run-tests.sh).
 */
class OptimizerStepGpuTest {
    private static CudaBackend gpu;
    private final Random random = new Random(11);

    @BeforeAll
    static void openDevice() {
        CudaRequirement.requireCuda();
        gpu = new CudaBackend(CudaOptions.fromSystemProperties());
    }

    @AfterAll
    static void closeDevice() {
        if (gpu != null) gpu.close();
    }

    private Tensor tensor(float[] values) {
        Tensor t = gpu.allocate(values.length);
        gpu.upload(values, t);
        return t;
    }

    @Test
    void oneLaunchUpdatesEveryParameterBitForBitAsThePerParameterKernel() {
        long block = OptimizerKernels.ELEMENTS_PER_BLOCK;
        int[] sizes = {5, 0, (int) block, (int) block + 1, 3 * (int) block + 17, 1, 100_000};
        List<AdamWTensors> many = new ArrayList<>(), single = new ArrayList<>();
        List<float[]> initial = new ArrayList<>();
        double[] lrScale = new double[sizes.length], decayPerLr = new double[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            int n = sizes[i];
            float[] p = new float[n], g = new float[n];
            for (int k = 0; k < n; k++) {
                p[k] = (float) random.nextGaussian();
                g[k] = (float) (0.1 * random.nextGaussian());
            }
            initial.add(p);
            many.add(new AdamWTensors(tensor(p), tensor(g), gpu.allocate(n), gpu.allocate(n)));
            single.add(new AdamWTensors(tensor(p), tensor(g), gpu.allocate(n), gpu.allocate(n)));
            // µP-like rates per group, and train.py's weight decay over (lr + 1e-16)
            lrScale[i] = 1e-3 / (1 + i % 3);
            decayPerLr[i] = i % 2 == 0 ? 0 : 0.01 / (lrScale[i] + 1e-16);
        }
        gpu.profileOps(true);
        gpu.resetOpProfile();
        int steps = 4;
        try {
            for (int step = 1; step <= steps; step++) {
                double f = step < 3 ? step / 3.0 : 1 - 0.1 * step; // a warm-up, then a decay
                gpu.adamW(many, lrScale, decayPerLr, f, 0.9f, 0.999f, 1e-8f, step);
            }
        } finally {
            gpu.profileOps(false);
        }
        assertThat(gpu.opProfile())
                .filteredOn(t -> t.op().startsWith("adam_w"))
                .as("one launch a step")
                .extracting(OpTiming::op, OpTiming::calls)
                .containsExactly(org.assertj.core.api.Assertions.tuple("adam_w_multi", (long) steps));
        for (int step = 1; step <= steps; step++) {
            double f = step < 3 ? step / 3.0 : 1 - 0.1 * step;
            for (int i = 0; i < sizes.length; i++) {
                AdamWTensors t = single.get(i);
                double lr = lrScale[i] * f;
                gpu.adamW(
                        t.param(),
                        t.grad(),
                        t.m(),
                        t.v(),
                        (float) lr,
                        0.9f,
                        0.999f,
                        1e-8f,
                        (float) (lr * decayPerLr[i]),
                        step);
            }
        }
        for (int i = 0; i < sizes.length; i++) {
            AdamWTensors a = many.get(i), b = single.get(i);
            assertThat(bits(gpu.download(a.param()))).as("param %d", i).isEqualTo(bits(gpu.download(b.param())));
            assertThat(bits(gpu.download(a.m()))).as("m %d", i).isEqualTo(bits(gpu.download(b.m())));
            assertThat(bits(gpu.download(a.v()))).as("v %d", i).isEqualTo(bits(gpu.download(b.v())));
            if (sizes[i] > 0)
                assertThat(gpu.download(a.param())).as("param %d moved", i).isNotEqualTo(initial.get(i));
        }
    }

    @Test
    void sumsOfSquaresReadBackAtOnceAreEachTensorsOwnExactly() {
        int[] sizes = {0, 1, 5000, 4096 * 1024 + 3, 5_000_000};
        List<Tensor> tensors = new ArrayList<>();
        for (int n : sizes) {
            float[] v = new float[n];
            for (int k = 0; k < n; k++) v[k] = (float) random.nextGaussian();
            tensors.add(tensor(v));
        }
        double[] each = new double[sizes.length];
        for (int i = 0; i < sizes.length; i++) each[i] = gpu.sumOfSquares(tensors.get(i));
        gpu.profileOps(true);
        gpu.resetOpProfile();
        double[] all;
        try {
            all = gpu.sumsOfSquares(tensors);
        } finally {
            gpu.profileOps(false);
        }
        assertThat(all).containsExactly(each);
        assertThat(all[3]).as("a sum over many blocks").isGreaterThan(0);
        assertThat(gpu.opProfile())
                .filteredOn(t -> t.op().equals("download") || t.op().equals("dot_partials"))
                .extracting(OpTiming::op, OpTiming::calls)
                .containsExactlyInAnyOrder(
                        org.assertj.core.api.Assertions.tuple("download", 1L),
                        org.assertj.core.api.Assertions.tuple("dot_partials", (long) sizes.length));
    }

    private static int[] bits(float[] values) {
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) bits[i] = Float.floatToRawIntBits(values[i]);
        return bits;
    }
}

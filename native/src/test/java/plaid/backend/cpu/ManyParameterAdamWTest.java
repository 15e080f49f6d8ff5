package plaid.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import plaid.backend.ComputeBackend.AdamWTensors;
import plaid.backend.Tensor;

/**
 * The many-parameter AdamW of {@link plaid.backend.ComputeBackend} on the CPU: each parameter gets exactly the
 * per-parameter op's result at lr = (float) (lrScale·f) and decay = (float) (lrScale·f·decayPerLr).
 */
class ManyParameterAdamWTest {
    private final CpuBackend be = new CpuBackend();
    private final Random random = new Random(5);

    private Tensor tensor(float[] values) {
        Tensor t = be.allocate(values.length);
        be.upload(values, t);
        return t;
    }

    private float[] values(int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (scale * random.nextGaussian());
        return v;
    }

    @Test
    void everyParameterStepsAsThePerParameterOpWithItsOwnRateAndDecay() {
        int[] sizes = {7, 0, 300, 1};
        double[] lrScale = {1e-3, 2e-3, 3.3e-4, 1e-2}, decayPerLr = {0.1, 0, 1e-2 / (2e-3 + 1e-16), 0.5};
        List<AdamWTensors> many = new ArrayList<>(), single = new ArrayList<>();
        List<float[]> initial = new ArrayList<>();
        for (int n : sizes) {
            float[] p = values(n, 1), g = values(n, 0.1), m = values(n, 0.01), v = new float[n];
            initial.add(p);
            for (int i = 0; i < n; i++) v[i] = (float) Math.abs(1e-3 * random.nextGaussian());
            many.add(new AdamWTensors(tensor(p), tensor(g), tensor(m), tensor(v)));
            single.add(new AdamWTensors(tensor(p), tensor(g), tensor(m), tensor(v)));
        }
        for (int step = 1; step <= 3; step++) {
            double f = 0.25 * step;
            be.adamW(many, lrScale, decayPerLr, f, 0.9f, 0.99f, 1e-8f, step);
            for (int i = 0; i < sizes.length; i++) {
                AdamWTensors t = single.get(i);
                double lr = lrScale[i] * f;
                be.adamW(
                        t.param(),
                        t.grad(),
                        t.m(),
                        t.v(),
                        (float) lr,
                        0.9f,
                        0.99f,
                        1e-8f,
                        (float) (lr * decayPerLr[i]),
                        step);
            }
        }
        for (int i = 0; i < sizes.length; i++) {
            AdamWTensors a = many.get(i), b = single.get(i);
            assertThat(be.download(a.param())).as("param %d", i).isEqualTo(be.download(b.param()));
            assertThat(be.download(a.m())).as("m %d", i).isEqualTo(be.download(b.m()));
            assertThat(be.download(a.v())).as("v %d", i).isEqualTo(be.download(b.v()));
            if (sizes[i] > 0)
                assertThat(be.download(a.param())).as("param %d moved", i).isNotEqualTo(initial.get(i));
        }
    }

    @Test
    void scalesThatDoNotMatchTheParametersAreRefused() {
        List<AdamWTensors> one = List.of(new AdamWTensors(
                tensor(new float[2]), tensor(new float[2]), tensor(new float[2]), tensor(new float[2])));
        assertThatThrownBy(() -> be.adamW(one, new double[2], new double[1], 1, 0.9f, 0.99f, 1e-8f, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("1 parameters, 2 lrScale and 1 decayPerLr values");
    }
}

package plaid.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import plaid.backend.MatmulPrecision;
import plaid.backend.Tensor;

/** softmaxExpectation is softmax followed by the product with the table, with or without TF32 rounding. */
class SoftmaxExpectationTest {
    private static final int ROWS = 5, VOCAB = 700, WIDTH = 16;
    private final CpuBackend be = new CpuBackend();

    private Tensor random(Random rng, double scale, int... shape) {
        Tensor t = be.allocate(shape);
        float[] v = new float[(int) t.numel()];
        for (int i = 0; i < v.length; i++) v[i] = (float) (scale * rng.nextGaussian());
        be.upload(v, t);
        return t;
    }

    private float[] composed(Tensor logits, Tensor table) {
        Tensor probs = be.allocate(ROWS, VOCAB), out = be.allocate(ROWS, WIDTH);
        be.softmax(logits, probs);
        be.gemm(false, false, 1f, probs, table, 0f, out);
        return be.download(out);
    }

    private float[] fused(Tensor logits, Tensor table) {
        Tensor out = be.allocate(ROWS, WIDTH);
        be.softmaxExpectation(logits, table, out);
        return be.download(out);
    }

    @Test
    void agreesWithSoftmaxThenGemmInBothPrecisions() {
        Random rng = new Random(1);
        Tensor logits = random(rng, 5, ROWS, VOCAB), table = random(rng, 1, VOCAB, WIDTH);
        float[] expected = composed(logits, table), actual = fused(logits, table);
        for (int i = 0; i < expected.length; i++) assertThat(actual[i]).as("fp32 %d", i).isCloseTo(expected[i], within(2e-6f));

        float[] expectedTf32 = MatmulPrecision.withTf32(() -> composed(logits, table));
        float[] actualTf32 = MatmulPrecision.withTf32(() -> fused(logits, table));
        double largestShift = 0;
        for (int i = 0; i < expected.length; i++) {
            assertThat(actualTf32[i]).as("tf32 %d", i).isCloseTo(expectedTf32[i], within(2e-6f));
            largestShift = Math.max(largestShift, Math.abs(actualTf32[i] - actual[i]));
        }
        assertThat(largestShift).as("TF32 rounding moves the result").isGreaterThan(1e-6);
    }
}

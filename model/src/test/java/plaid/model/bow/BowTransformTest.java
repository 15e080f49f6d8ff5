package plaid.model.bow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import plaid.options.bow.BowTransform;
import plaid.options.bow.DiffusionMode;

class BowTransformTest {
    private static final int ROWS = 3, SEQ = 11, CHANNELS = 4;

    static float[] gaussian(long seed, int n) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) out[i] = (float) rng.nextGaussian();
        return out;
    }

    static double[] widen(float[] a) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) out[i] = a[i];
        return out;
    }

    /** bow_n = Σ_{s≤n} ρ^(n−s) x_s written out as the O(S²) double sum. */
    static double[] directBow(double[] x, double rho, int rows, int seqLen, int channels) {
        double[] out = new double[x.length];
        for (int r = 0; r < rows; r++)
            for (int n = 0; n < seqLen; n++)
                for (int c = 0; c < channels; c++) {
                    double s = 0;
                    for (int k = 0; k <= n; k++) s += Math.pow(rho, n - k) * x[(r * seqLen + k) * channels + c];
                    out[(r * seqLen + n) * channels + c] = s;
                }
        return out;
    }

    /** x_n = bow_n − ρ·bow_{n−1} written out in double. */
    static double[] directInverse(double[] bow, double rho, int rows, int seqLen, int channels) {
        double[] out = new double[bow.length];
        for (int r = 0; r < rows; r++)
            for (int n = 0; n < seqLen; n++)
                for (int c = 0; c < channels; c++) {
                    int i = (r * seqLen + n) * channels + c;
                    out[i] = bow[i] - (n > 0 ? rho * bow[i - channels] : 0.0);
                }
        return out;
    }

    /** Central differences of Σ weights·f(input), in double. */
    static double[] finiteDifferenceGradient(Function<double[], double[]> f, double[] input, double[] weights) {
        double h = 1e-4;
        double[] grad = new double[input.length];
        for (int i = 0; i < input.length; i++) {
            double[] plus = input.clone(), minus = input.clone();
            plus[i] += h;
            minus[i] -= h;
            double[] fp = f.apply(plus), fm = f.apply(minus);
            double diff = 0;
            for (int k = 0; k < fp.length; k++) diff += weights[k] * (fp[k] - fm[k]);
            grad[i] = diff / (2 * h);
        }
        return grad;
    }

    static void assertClose(float[] actual, double[] expected, double relative) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < actual.length; i++) {
            assertThat((double) actual[i])
                    .as("index %d", i)
                    .isCloseTo(expected[i], within(relative * (1 + Math.abs(expected[i]))));
        }
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.5, 0.95, 1.0})
    void inverseUndoesForwardAndForwardUndoesInverse(double rho) {
        BowTransform t = new BowTransform(rho);
        float[] x = gaussian(1, ROWS * SEQ * CHANNELS);
        assertClose(t.fromBow(t.toBow(x, ROWS, SEQ, CHANNELS), ROWS, SEQ, CHANNELS), widen(x), 1e-5);
        assertClose(t.toBow(t.fromBow(x, ROWS, SEQ, CHANNELS), ROWS, SEQ, CHANNELS), widen(x), 1e-5);
    }

    @Test
    void zeroDecayMakesEveryDirectionTheIdentity() {
        BowTransform t = new BowTransform(0.0);
        float[] x = gaussian(2, ROWS * SEQ * CHANNELS);
        assertThat(t.toBow(x, ROWS, SEQ, CHANNELS)).containsExactly(x);
        assertThat(t.fromBow(x, ROWS, SEQ, CHANNELS)).containsExactly(x);
        assertThat(t.toBowBackward(x, ROWS, SEQ, CHANNELS)).containsExactly(x);
        assertThat(t.fromBowBackward(x, ROWS, SEQ, CHANNELS)).containsExactly(x);
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.5, 0.95})
    void bothDirectionsMatchTheDirectSums(double rho) {
        BowTransform t = new BowTransform(rho);
        float[] x = gaussian(3, ROWS * SEQ * CHANNELS);
        assertClose(t.toBow(x, ROWS, SEQ, CHANNELS), directBow(widen(x), rho, ROWS, SEQ, CHANNELS), 1e-6);
        assertClose(t.fromBow(x, ROWS, SEQ, CHANNELS), directInverse(widen(x), rho, ROWS, SEQ, CHANNELS), 1e-6);
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.5, 0.95})
    void backwardsMatchFiniteDifferencesOfTheDirectSums(double rho) {
        BowTransform t = new BowTransform(rho);
        double[] x = widen(gaussian(4, ROWS * SEQ * CHANNELS));
        float[] weights = gaussian(5, x.length);
        double[] w = widen(weights);

        double[] expectedToBow = finiteDifferenceGradient(in -> directBow(in, rho, ROWS, SEQ, CHANNELS), x, w);
        assertClose(t.toBowBackward(weights, ROWS, SEQ, CHANNELS), expectedToBow, 1e-5);

        double[] expectedFromBow = finiteDifferenceGradient(in -> directInverse(in, rho, ROWS, SEQ, CHANNELS), x, w);
        assertClose(t.fromBowBackward(weights, ROWS, SEQ, CHANNELS), expectedFromBow, 1e-5);
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.5, 0.95})
    void theModesRescaleByOneMinusRhoUnlessNoRescaleAndTheBackwardsFollow(double rho) {
        BowTransform plain = BowTransform.forMode(DiffusionMode.parse("BoW_embedding_no_rescale"), rho);
        BowTransform scaled = BowTransform.forMode(DiffusionMode.parse("BoW_embedding"), rho);
        assertThat(plain.scale()).isEqualTo(1.0);
        assertThat(scaled.scale()).isEqualTo(1.0 - rho);
        float[] x = gaussian(6, ROWS * SEQ * CHANNELS);
        double[] expected = directBow(widen(x), rho, ROWS, SEQ, CHANNELS);
        for (int i = 0; i < expected.length; i++) expected[i] *= 1 - rho;
        assertClose(scaled.toBow(x, ROWS, SEQ, CHANNELS), expected, 1e-6);
        assertClose(scaled.fromBow(scaled.toBow(x, ROWS, SEQ, CHANNELS), ROWS, SEQ, CHANNELS), widen(x), 1e-5);
        // each backward is the transpose of its forward: <f(x), y> = <x, fᵀ(y)>
        float[] y = gaussian(7, x.length);
        assertThat(dot(scaled.toBow(x, ROWS, SEQ, CHANNELS), y))
                .isCloseTo(dot(x, scaled.toBowBackward(y, ROWS, SEQ, CHANNELS)), within(1e-4));
        assertThat(dot(scaled.fromBow(x, ROWS, SEQ, CHANNELS), y))
                .isCloseTo(dot(x, scaled.fromBowBackward(y, ROWS, SEQ, CHANNELS)), within(1e-3));
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }

    @Test
    void rowsDoNotLeakIntoEachOther() {
        BowTransform t = new BowTransform(0.9);
        float[] x = new float[2 * SEQ * CHANNELS];
        x[(SEQ - 1) * CHANNELS] = 1f; // last position of row 0
        float[] bow = t.toBow(x, 2, SEQ, CHANNELS);
        for (int i = SEQ * CHANNELS; i < bow.length; i++) assertThat(bow[i]).isZero();
        float[] back = t.toBowBackward(x, 2, SEQ, CHANNELS);
        for (int i = SEQ * CHANNELS; i < back.length; i++) assertThat(back[i]).isZero();
    }

    @Test
    void refusesDecayOutsideTheUnitIntervalAndWrongShapes() {
        assertThatThrownBy(() -> new BowTransform(-0.1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("BoW_cumsum_gamma");
        assertThatThrownBy(() -> new BowTransform(1.5)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new BowTransform(Double.NaN)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new BowTransform(0.5).toBow(new float[5], 1, 2, 2))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("got 5");
    }
}

package plaid.model.bow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import plaid.options.bow.BowTransform;

/** norm_ret_embeddings: unit-length token-space vectors, and a backward that matches central differences. */
class ReturnedEmbeddingNormTest {
    private static final int ROWS = 2, SEQ = 5, EMBED = 4;

    private static float[] gaussian(long seed, int n) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rng.nextGaussian();
        return v;
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.5, 0.95})
    void tokenSpaceVectorsHaveUnitLength(double rho) {
        BowTransform bow = new BowTransform(rho, 1 - rho / 2);
        float[] out = new ReturnedEmbeddingNorm(bow).forward(gaussian(1, ROWS * SEQ * EMBED), ROWS, SEQ, EMBED);
        float[] x = bow.fromBow(out, ROWS, SEQ, EMBED);
        for (int p = 0; p < ROWS * SEQ; p++) {
            double norm = 0;
            for (int j = 0; j < EMBED; j++) norm += x[p * EMBED + j] * x[p * EMBED + j];
            assertThat(Math.sqrt(norm)).as("position %d", p).isCloseTo(1.0, within(1e-5));
        }
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.5, 0.95})
    void backwardMatchesCentralDifferences(double rho) {
        ReturnedEmbeddingNorm norm = new ReturnedEmbeddingNorm(new BowTransform(rho));
        float[] head = gaussian(2, ROWS * SEQ * EMBED), weights = gaussian(3, head.length);
        float[] analytic = norm.backward(head, weights, ROWS, SEQ, EMBED);
        double h = 1e-3;
        for (int i = 0; i < head.length; i++) {
            float[] plus = head.clone(), minus = head.clone();
            plus[i] += (float) h;
            minus[i] -= (float) h;
            double numeric = (weighted(norm.forward(plus, ROWS, SEQ, EMBED), weights)
                            - weighted(norm.forward(minus, ROWS, SEQ, EMBED), weights))
                    / (plus[i] - minus[i]);
            assertThat((double) analytic[i])
                    .as("index %d", i)
                    .isCloseTo(numeric, within(2e-3 * (1 + Math.abs(numeric))));
        }
    }

    @Test
    void aZeroHeadOutputGivesAFiniteGradient() {
        // the embed head's readout starts at zero: the first backward must not be 0/0
        float[] head = new float[ROWS * SEQ * EMBED];
        float[] d = new ReturnedEmbeddingNorm(new BowTransform(0.5))
                .backward(head, gaussian(4, head.length), ROWS, SEQ, EMBED);
        for (float v : d) assertThat(Float.isFinite(v)).isTrue();
    }

    private static double weighted(float[] values, float[] weights) {
        double s = 0;
        for (int i = 0; i < values.length; i++) s += (double) values[i] * weights[i];
        return s;
    }
}

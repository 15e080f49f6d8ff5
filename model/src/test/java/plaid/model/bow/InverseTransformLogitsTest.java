package plaid.model.bow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static plaid.model.bow.BowTransformTest.assertClose;
import static plaid.model.bow.BowTransformTest.directInverse;
import static plaid.model.bow.BowTransformTest.finiteDifferenceGradient;
import static plaid.model.bow.BowTransformTest.gaussian;
import static plaid.model.bow.BowTransformTest.widen;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import plaid.options.bow.BowTransform;
import plaid.options.bow.DiffusionMode;

class InverseTransformLogitsTest {
    private static final int ROWS = 2, SEQ = 5, EMBED = 4, VOCAB = 7;
    /** Row 0 off the self-conditioning path (live Ê), row 1 on it (Ê detached in x·e). */
    private static final float[] MASK = {0f, 1f};

    /**
     * The logits written out in double. {@code live} is the Ê whose gradient is wanted;
     * {@code detached} stands in for Ê.detach() on mask-1 rows' x·e terms, so finite
     * differences over {@code live} leave it unchanged, as autograd would.
     */
    static double[] directLogits(double[] xBow, double[] live, double[] detached, double rho, boolean distance) {
        double[] x = directInverse(xBow, rho, ROWS, SEQ, EMBED);
        double[] out = new double[ROWS * SEQ * VOCAB];
        for (int p = 0; p < ROWS * SEQ; p++) {
            double[] eDot = MASK[p / SEQ] == 1f ? detached : live;
            for (int t = 0; t < VOCAB; t++) {
                double xe = 0, xx = 0, ee = 0;
                for (int j = 0; j < EMBED; j++) {
                    double xj = x[p * EMBED + j];
                    xe += xj * eDot[t * EMBED + j];
                    xx += xj * xj;
                    ee += live[t * EMBED + j] * live[t * EMBED + j];
                }
                out[p * VOCAB + t] = distance ? -Math.sqrt(Math.max(0, xx + ee - 2 * xe)) : xe;
            }
        }
        return out;
    }

    private static InverseTransformLogits.Inputs inputs(float[] xBow, float[] embedding) {
        return new InverseTransformLogits.Inputs(xBow, ROWS, SEQ, embedding, VOCAB, MASK);
    }

    @ParameterizedTest
    @CsvSource({"0.0, false", "0.5, false", "0.95, false", "0.0, true", "0.5, true", "0.95, true"})
    void logitsMatchTheDirectComputation(double rho, boolean distance) {
        float[] xBow = gaussian(11, ROWS * SEQ * EMBED), embedding = gaussian(12, VOCAB * EMBED);
        InverseTransformLogits head = new InverseTransformLogits(new BowTransform(rho), distance);
        double[] e = widen(embedding);
        assertClose(head.logits(inputs(xBow, embedding)), directLogits(widen(xBow), e, e, rho, distance), 1e-5);
    }

    @ParameterizedTest
    @CsvSource({"0.0, false", "0.5, false", "0.95, false", "0.0, true", "0.5, true", "0.95, true"})
    void backwardMatchesFiniteDifferences(double rho, boolean distance) {
        float[] xBow = gaussian(13, ROWS * SEQ * EMBED), embedding = gaussian(14, VOCAB * EMBED);
        float[] dLogits = gaussian(15, ROWS * SEQ * VOCAB);
        InverseTransformLogits head = new InverseTransformLogits(new BowTransform(rho), distance);
        InverseTransformLogits.Gradients g = head.backward(inputs(xBow, embedding), dLogits);

        double[] x = widen(xBow), e = widen(embedding), w = widen(dLogits);
        assertClose(
                g.dXReconstBow(), finiteDifferenceGradient(in -> directLogits(in, e, e, rho, distance), x, w), 1e-4);
        assertClose(g.dEmbedding(), finiteDifferenceGradient(in -> directLogits(x, in, e, rho, distance), e, w), 1e-4);
    }

    @Test
    void selfConditionedRowsSendDotProductGradientsNowhereButDistanceGradientsStillReachTheEmbedding() {
        float[] xBow = gaussian(16, ROWS * SEQ * EMBED), embedding = gaussian(17, VOCAB * EMBED);
        float[] dLogits = new float[ROWS * SEQ * VOCAB];
        for (int i = SEQ * VOCAB; i < dLogits.length; i++) dLogits[i] = 1f; // only row 1, mask 1
        InverseTransformLogits.Inputs in = inputs(xBow, embedding);
        assertThat(new InverseTransformLogits(new BowTransform(0.5), false)
                        .backward(in, dLogits)
                        .dEmbedding())
                .containsOnly(0f);
        assertThat(new InverseTransformLogits(new BowTransform(0.5), true)
                        .backward(in, dLogits)
                        .dEmbedding())
                .doesNotContain(0f);
    }

    @Test
    void aZeroDistanceGivesAZeroLogitAndAFiniteGradient() {
        float[] embedding = gaussian(18, VOCAB * EMBED);
        float[] xBow = new float[ROWS * SEQ * EMBED];
        for (int p = 0; p < ROWS * SEQ; p++) System.arraycopy(embedding, 0, xBow, p * EMBED, EMBED); // x = e_0, ρ = 0
        InverseTransformLogits head = new InverseTransformLogits(new BowTransform(0.0), true);
        InverseTransformLogits.Inputs in = inputs(xBow, embedding);
        float[] logits = head.logits(in);
        assertThat(logits[0]).isZero();
        float[] dLogits = new float[logits.length];
        dLogits[0] = 1f;
        InverseTransformLogits.Gradients g = head.backward(in, dLogits);
        assertThat(g.dXReconstBow()).containsOnly(0f);
        assertThat(g.dEmbedding()).containsOnly(0f);
    }

    @Test
    void forModePicksTheMetricAndRefusesModesWithoutABowSpaceHead() {
        float[] xBow = gaussian(19, ROWS * SEQ * EMBED), embedding = gaussian(20, VOCAB * EMBED);
        InverseTransformLogits norms = InverseTransformLogits.forMode(
                DiffusionMode.parse("BoW_embedding_reconst_first_diff_lm_norms"), new BowTransform(0.5));
        InverseTransformLogits dots = InverseTransformLogits.forMode(
                DiffusionMode.parse("BoW_embedding_double_logit_reg"), new BowTransform(0.5));
        double[] e = widen(embedding);
        assertClose(norms.logits(inputs(xBow, embedding)), directLogits(widen(xBow), e, e, 0.5, true), 1e-5);
        assertClose(dots.logits(inputs(xBow, embedding)), directLogits(widen(xBow), e, e, 0.5, false), 1e-5);
        assertThatThrownBy(() -> InverseTransformLogits.forMode(DiffusionMode.TOKEN, new BowTransform(0.5)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no bow-space");
    }

    @Test
    void refusesMismatchedShapes() {
        assertThatThrownBy(() ->
                        new InverseTransformLogits.Inputs(new float[10], 1, 2, new float[VOCAB * EMBED], VOCAB, null))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new InverseTransformLogits.Inputs(
                        new float[8], 1, 2, new float[VOCAB * EMBED], VOCAB, new float[3]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("mask");
    }
}

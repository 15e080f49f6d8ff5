package plaid.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.backend.cpu.CpuBackend;
import plaid.options.PlaidConfig;

/**
 * The denoiser's d/dz and d/dγ against central differences, through each output head: the scalar
 * L = Σ G⊙logits + Σ G′⊙(other logits) + Σ R⊙x̂ with fixed random G, G′, R, whose gradients the caller
 * writes as the loss or the guidance would.
 */
class DenoiserGradientTest {
    private static final int ROWS = 3, SEQ = 6;

    @ParameterizedTest(name = "{0}, read secondary {1}")
    @CsvSource({
        "token, false",
        "BoW_embedding, false",
        "BoW_embedding_reconst_first, false",
        "BoW_embedding_reconst_first_diff_lm_norms, false",
        "BoW_embedding_reconst_first_pred_x0_norm_ret_embeddings, false",
        "BoW_embedding_double_logit_reg, false",
        "BoW_embedding_double_logit_reg, true",
        "BoW_embedding_double_logit_reg_logits_direct_primary, false",
        "BoW_embedding_double_logit_reg_direct_bow_x_to_logits_pred_x0_norm_ret_embeddings, true"
    })
    void inputGradientsAgreeWithFiniteDifferences(String mode, boolean readSecondary) {
        PlaidConfig c = TrainerTest.tinyConfig();
        TestModels.inMode(c, mode);
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 3);
        ComputeBackend be = p.backend();
        SplittableRandom rng = new SplittableRandom(17);
        TestModels.perturb(p, rng);
        int tokens = ROWS * SEQ, e = c.embedDim, v = c.vocabSize;
        Tensor embedding = be.allocate(v, e);
        be.upload(p.normalizedEmbedding(), embedding);
        float[] z = gaussian(rng, tokens * e),
                xSelfcond = gaussian(rng, tokens * e),
                direction = gaussian(rng, tokens * e);
        float[] g = gaussian(rng, tokens * v), gOther = gaussian(rng, tokens * v), r = gaussian(rng, tokens * e);
        double[] gamma = {-1.5, 0.5, 3.0};
        Denoiser d = new Denoiser(c, p, ROWS, SEQ, readSecondary);

        Tensor zT = tensor(be, z, tokens, e), xT = tensor(be, xSelfcond, tokens, e);
        d.forward(zT, gamma, embedding, 0.8, xT, null, Segments.whole(ROWS, SEQ));
        be.upload(g, d.logitGradient());
        if (d.hasSecondaryLogits()) be.upload(gOther, d.secondaryLogitGradient());
        Denoiser.InputGradients grads = d.backward(tensor(be, r, tokens, e), be.allocate(v, e), false);
        float[] dz = be.download(grads.dz());
        double[] dGamma = grads.dGamma().clone();

        double analytic = 0, magnitude = 0;
        for (int k = 0; k < dz.length; k++) {
            analytic += (double) dz[k] * direction[k];
            magnitude += Math.abs((double) dz[k] * direction[k]);
        }
        double h = 1e-2;
        double numeric = (objective(d, be, embedding, shifted(z, direction, h), xT, gamma, g, gOther, r)
                        - objective(d, be, embedding, shifted(z, direction, -h), xT, gamma, g, gOther, r))
                / (2 * h);
        assertThat(analytic).as("d/dz along a random direction").isCloseTo(numeric, within(2e-3 * magnitude));

        // a smaller step for γ: the γ features oscillate at frequencies up to e⁵
        double hGamma = 1e-4;
        for (int b = 0; b < ROWS; b++) {
            double[] up = gamma.clone(), down = gamma.clone();
            up[b] += hGamma;
            down[b] -= hGamma;
            double numericGamma = (objective(d, be, embedding, z, xT, up, g, gOther, r)
                            - objective(d, be, embedding, z, xT, down, g, gOther, r))
                    / (2 * hGamma);
            assertThat(dGamma[b])
                    .as("d/dγ of row %d", b)
                    .isCloseTo(numericGamma, within(5e-3 * Math.max(1.0, Math.abs(numericGamma))));
        }
    }

    @ParameterizedTest
    @CsvSource({"token", "BoW_embedding_reconst_first"})
    void modesWithOneSetOfLogitsRefuseTheSecondary(String mode) {
        PlaidConfig c = TrainerTest.tinyConfig();
        TestModels.inMode(c, mode);
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 3);
        assertThatThrownBy(() -> new Denoiser(c, p, ROWS, SEQ, true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("use_secondary_logits needs diffusion_mode double_logit_reg");
        Denoiser d = new Denoiser(c, p, ROWS, SEQ);
        assertThat(d.hasSecondaryLogits()).isFalse();
        assertThatThrownBy(d::secondaryLogits)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("has no secondary logits");
    }

    /** L of a forward at z and γ, in double from the outputs. */
    private static double objective(
            Denoiser d,
            ComputeBackend be,
            Tensor embedding,
            float[] z,
            Tensor xSelfcond,
            double[] gamma,
            float[] g,
            float[] gOther,
            float[] r) {
        d.forward(
                tensor(be, z, ROWS * SEQ, z.length / (ROWS * SEQ)),
                gamma,
                embedding,
                0.8,
                xSelfcond,
                null,
                Segments.whole(ROWS, SEQ),
                false);
        double sum = dot(be.download(d.logits()), g) + dot(be.download(d.xReconst()), r);
        return d.hasSecondaryLogits() ? sum + dot(be.download(d.secondaryLogits()), gOther) : sum;
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int k = 0; k < a.length; k++) s += (double) a[k] * b[k];
        return s;
    }

    private static float[] gaussian(SplittableRandom rng, int n) {
        float[] out = new float[n];
        for (int k = 0; k < n; k++) out[k] = (float) rng.nextGaussian();
        return out;
    }

    private static float[] shifted(float[] z, float[] d, double h) {
        float[] out = new float[z.length];
        for (int k = 0; k < z.length; k++) out[k] = (float) (z[k] + h * d[k]);
        return out;
    }

    private static Tensor tensor(ComputeBackend be, float[] values, int rows, int cols) {
        Tensor t = be.allocate(rows, cols);
        be.upload(values, t);
        return t;
    }
}

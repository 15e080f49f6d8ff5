package plaid.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.model.Denoiser;
import plaid.model.EmbeddingMatrix;
import plaid.model.ParameterGroup;
import plaid.model.PlaidParameters;

/** ∇_z G against central differences of G computed from the logits, for every kind of term. */
class GuidanceGradientTest {
    private static final int VOCAB = 30, ROWS = 2, SEQ = 6;

    @Test
    void matchesFiniteDifferencesForEveryKindOfTerm() {
        List<GuidanceTerm> terms = List.of(
                GuidanceTerm.at(4, 2.0, 1),
                GuidanceTerm.at(9, 10.0, 3).complemented(),
                GuidanceTerm.at(5, 1.0, 1), // a second term at position 1: another pass over the 'at' positions
                GuidanceTerm.at(6, 0.7, 4),
                GuidanceTerm.anywhere(12, 3.0),
                GuidanceTerm.anywhere(2, 1.5).complemented(),
                GuidanceTerm.everywhere(7, 0.5),
                GuidanceTerm.everywhere(11, 4.0).complemented());
        PlaidParameters params = TinyModel.randomised(VOCAB, 11);
        ComputeBackend be = params.backend();
        int e = TinyModel.config(VOCAB).embedDim, n = ROWS * SEQ * e;
        Tensor embedding = be.allocate(VOCAB, e);
        be.upload(
                EmbeddingMatrix.normalize(
                        be.download(params.get(ParameterGroup.EMBEDDING_MATRIX, "matrix")
                                .value()),
                        e),
                embedding);
        Denoiser denoiser = new Denoiser(TinyModel.config(VOCAB), params, ROWS, SEQ);
        SplittableRandom rng = new SplittableRandom(1);
        float[] z = new float[n], direction = new float[n], xSelfcond = new float[n];
        for (int k = 0; k < n; k++) {
            z[k] = (float) rng.nextGaussian();
            direction[k] = (float) rng.nextGaussian();
            xSelfcond[k] = (float) (0.1 * rng.nextGaussian());
        }
        double gamma = 1.5;

        forward(denoiser, be, embedding, z, xSelfcond, gamma);
        float[] grad = new GuidanceGradient(be, VOCAB, e).compute(denoiser, terms);
        double analytic = 0;
        for (int k = 0; k < n; k++) analytic += (double) grad[k] * direction[k];

        double h = 1e-2;
        double numeric = (objective(denoiser, be, embedding, shifted(z, direction, h), xSelfcond, gamma, terms)
                        - objective(denoiser, be, embedding, shifted(z, direction, -h), xSelfcond, gamma, terms))
                / (2 * h);
        assertThat(analytic).isCloseTo(numeric, org.assertj.core.data.Percentage.withPercentage(1.0));
    }

    private static float[] shifted(float[] z, float[] d, double h) {
        float[] out = new float[z.length];
        for (int k = 0; k < z.length; k++) out[k] = (float) (z[k] + h * d[k]);
        return out;
    }

    private static void forward(
            Denoiser d, ComputeBackend be, Tensor embedding, float[] z, float[] xSelfcond, double gamma) {
        int e = z.length / (ROWS * SEQ);
        Tensor zT = be.allocate(ROWS * SEQ, e), xT = be.allocate(ROWS * SEQ, e);
        be.upload(z, zT);
        be.upload(xSelfcond, xT);
        d.forward(zT, new double[] {gamma, gamma}, embedding, 1.0, xT, null, Segments.whole(ROWS, SEQ));
    }

    /** G from its definition in sample.py, in double from the logits. */
    private static double objective(
            Denoiser d,
            ComputeBackend be,
            Tensor embedding,
            float[] z,
            float[] xSelfcond,
            double gamma,
            List<GuidanceTerm> terms) {
        forward(d, be, embedding, z, xSelfcond, gamma);
        float[] logits = be.download(d.logits());
        double g = 0;
        for (int b = 0; b < ROWS; b++) {
            double[][] logp = new double[SEQ][VOCAB];
            for (int p = 0; p < SEQ; p++) {
                int o = (b * SEQ + p) * VOCAB;
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int v = 0; v < VOCAB; v++) max = Math.max(max, logits[o + v]);
                for (int v = 0; v < VOCAB; v++) sum += Math.exp(logits[o + v] - max);
                for (int v = 0; v < VOCAB; v++) logp[p][v] = logits[o + v] - max - Math.log(sum);
            }
            for (GuidanceTerm t : terms) {
                double[] values = switch (t.position()) {
                    case GuidanceTerm.At(int index) -> new double[] {logp[index][t.token()]};
                    case GuidanceTerm.Everywhere() ->
                        java.util.Arrays.stream(logp)
                                .mapToDouble(row -> row[t.token()])
                                .toArray();
                    case GuidanceTerm.Anywhere() ->
                        new double[] {
                            Math.log(java.util.Arrays.stream(logp)
                                            .mapToDouble(row -> Math.exp(row[t.token()]))
                                            .sum())
                                    - SEQ
                        };
                };
                for (double l : values) g += t.weight() * (t.complement() ? Math.log(-Math.expm1(l)) : l);
            }
        }
        return g;
    }
}

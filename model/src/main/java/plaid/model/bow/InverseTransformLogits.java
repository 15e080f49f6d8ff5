package plaid.model.bow;

import java.util.Arrays;
import plaid.options.bow.BowTransform;
import plaid.options.bow.DiffusionMode;

/**
 * Logits from a bow-space x̂ (reconst_first's head, and double_logit_reg's embed head):
 * x = bow⁻¹(x̂), then per position and token either the dot product x·e_v or, with
 * {@code diff_lm_norms}, the negative distance −√max(0, ‖x‖² + ‖e_v‖² − 2x·e_v).
 * Host reference with its backward; sums accumulate in double.
 *
 * <p>Self-conditioning routes gradients as in the fork: rows with mask 1 see a detached Ê
 * in the x·e_v term (as the token head's zb·Êᵀ does, plaid-reference §2), while the
 * ‖e_v‖² term of the distance uses the live Ê on every row, so its gradient reaches Ê
 * regardless of the mask.
 */
public final class InverseTransformLogits {
    private final BowTransform bow;
    private final boolean distanceLogits;

    /** @param distanceLogits the {@code diff_lm_norms} word: negative distances instead of dot products */
    public InverseTransformLogits(BowTransform bow, boolean distanceLogits) {
        this.bow = bow;
        this.distanceLogits = distanceLogits;
    }

    /** The logits of {@code mode}'s bow-space x̂ head, which only reconst_first and double_logit_reg have. */
    public static InverseTransformLogits forMode(DiffusionMode mode, BowTransform bow) {
        if (!mode.contains(DiffusionMode.Word.RECONST_FIRST) && !mode.contains(DiffusionMode.Word.DOUBLE_LOGIT_REG)) {
            throw new IllegalArgumentException("diffusion_mode " + mode + " has no bow-space x̂ head");
        }
        return new InverseTransformLogits(bow, mode.contains(DiffusionMode.Word.DIFF_LM_NORMS));
    }

    /**
     * @param xReconstBow  bow-space x̂ [rows, S, E]
     * @param embedding    the embedding matrix as the head uses it [V, E]
     * @param selfcondMask per row, 1 = on the self-conditioning path (Ê detached in x·e);
     *                     null: every row on it, as {@code Denoiser} reads a null mask
     */
    public record Inputs(
            float[] xReconstBow, int rows, int seqLen, float[] embedding, int vocabSize, float[] selfcondMask) {
        public Inputs {
            if (vocabSize <= 0 || embedding.length % vocabSize != 0) {
                throw new IllegalArgumentException(
                        "embedding of " + embedding.length + " values is not [" + vocabSize + ", E]");
            }
            BowTransform.checkShape(xReconstBow, rows, seqLen, embedding.length / vocabSize);
            if (selfcondMask != null && selfcondMask.length != rows) {
                throw new IllegalArgumentException(
                        "self-conditioning mask has " + selfcondMask.length + " values for " + rows + " rows");
            }
        }

        public int embedDim() {
            return embedding.length / vocabSize;
        }

        /** 1 where the row's x·e term sends gradient to Ê (mask 0), else 0. */
        double liveEmbedding(int row) {
            return selfcondMask == null ? 0.0 : 1.0 - selfcondMask[row];
        }
    }

    /** d/dx̂ [rows, S, E] and the contribution to d/dÊ [V, E]. */
    public record Gradients(float[] dXReconstBow, float[] dEmbedding) {}

    /** Logits [rows·S, V]. */
    public float[] logits(Inputs in) {
        int e = in.embedDim(), v = in.vocabSize(), positions = in.rows() * in.seqLen();
        float[] x = bow.fromBow(in.xReconstBow(), in.rows(), in.seqLen(), e);
        double[] embedSquares = distanceLogits ? squaredRowNorms(in.embedding(), v, e) : null;
        float[] logits = new float[positions * v];
        for (int p = 0; p < positions; p++) {
            double xSquare = distanceLogits ? dot(x, p * e, x, p * e, e) : 0.0;
            for (int t = 0; t < v; t++) {
                double xe = dot(x, p * e, in.embedding(), t * e, e);
                logits[p * v + t] =
                        (float) (distanceLogits ? -Math.sqrt(Math.max(0.0, xSquare + embedSquares[t] - 2 * xe)) : xe);
            }
        }
        return logits;
    }

    /**
     * Backpropagates {@code dLogits} [rows·S, V] through {@link #logits}. Where the clamped
     * distance is 0 the gradient is taken as 0 (the fork's sqrt would give ∞ there).
     */
    public Gradients backward(Inputs in, float[] dLogits) {
        int e = in.embedDim(), v = in.vocabSize(), seqLen = in.seqLen(), positions = in.rows() * seqLen;
        if (dLogits.length != positions * v) {
            throw new IllegalArgumentException(
                    "dLogits has " + dLogits.length + " values for " + positions + "×" + v + " logits");
        }
        float[] embedding = in.embedding();
        float[] x = bow.fromBow(in.xReconstBow(), in.rows(), seqLen, e);
        double[] embedSquares = distanceLogits ? squaredRowNorms(embedding, v, e) : null;
        float[] dx = new float[x.length];
        double[] dEmbedding = new double[embedding.length];
        double[] dxPosition = new double[e];
        for (int p = 0; p < positions; p++) {
            double live = in.liveEmbedding(p / seqLen);
            double xSquare = distanceLogits ? dot(x, p * e, x, p * e, e) : 0.0;
            Arrays.fill(dxPosition, 0.0);
            for (int t = 0; t < v; t++) {
                double g = dLogits[p * v + t];
                if (g == 0.0) continue;
                // logit = x·e, or −√dist with dist = ‖x‖² + ‖e‖² − 2x·e: per unit of g, d/dx = −(x − e)/√dist, d/de =
                // −(e − x)/√dist
                double dDot = g, dSelfSquares = 0.0;
                if (distanceLogits) {
                    double dist = xSquare + embedSquares[t] - 2 * dot(x, p * e, embedding, t * e, e);
                    if (dist <= 0.0) continue;
                    double dDist = -g / (2 * Math.sqrt(dist));
                    dDot = -2 * dDist;
                    dSelfSquares = 2 * dDist;
                }
                for (int j = 0; j < e; j++) {
                    double xj = x[p * e + j], ej = embedding[t * e + j];
                    dxPosition[j] += dDot * ej + dSelfSquares * xj;
                    dEmbedding[t * e + j] += live * dDot * xj + dSelfSquares * ej;
                }
            }
            for (int j = 0; j < e; j++) dx[p * e + j] = (float) dxPosition[j];
        }
        float[] dEmbeddingFloat = new float[dEmbedding.length];
        for (int i = 0; i < dEmbedding.length; i++) dEmbeddingFloat[i] = (float) dEmbedding[i];
        return new Gradients(bow.fromBowBackward(dx, in.rows(), seqLen, e), dEmbeddingFloat);
    }

    private static double[] squaredRowNorms(float[] matrix, int rows, int cols) {
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) out[r] = dot(matrix, r * cols, matrix, r * cols, cols);
        return out;
    }

    private static double dot(float[] a, int aOffset, float[] b, int bOffset, int n) {
        double s = 0;
        for (int j = 0; j < n; j++) s += (double) a[aOffset + j] * b[bOffset + j];
        return s;
    }
}

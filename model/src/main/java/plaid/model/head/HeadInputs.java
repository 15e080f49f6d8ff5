package plaid.model.head;

import plaid.backend.Tensor;

/**
 * What an {@link OutputHead} reads of one denoiser forward's inputs besides the blocks' output
 * (plaid-reference §2): z [rows·S, E], γ per row, Ê [V, E], bias_scale and the self-conditioning
 * mask m (null: every row on the self-conditioning path). The backward reads the same ones.
 */
public record HeadInputs(Tensor z, double[] gamma, Tensor embedding, float biasScale, float[] mask) {

    public int rows() {
        return gamma.length;
    }

    /** 1 − m per row: which rows' x·Êᵀ terms send gradient to Ê (a null mask: none). */
    float[] liveEmbeddingRows() {
        float[] keep = new float[gamma.length];
        for (int b = 0; b < keep.length; b++) keep[b] = mask == null ? 0f : 1f - mask[b];
        return keep;
    }
}

package plaid.model.bow;

import plaid.model.EmbeddingMatrix;
import plaid.options.bow.BowTransform;

/**
 * The {@code norm_ret_embeddings} word: a bow-space x̂ head's output h is taken back to token space,
 * each position's vector is scaled to unit length as Ê's rows are, and the result returns to bow space:
 * x̂ = bow(x/(‖x‖ + 1e-8)) with x = bow⁻¹(h). Logits computed from x̂ then compare unit vectors with
 * unit vectors. Host reference with its backward; our reading of "the norm on the x_reconst" in the
 * seed, since the fork's train.py, which reads the word, is not public.
 */
public final class ReturnedEmbeddingNorm {
    private final BowTransform bow;

    public ReturnedEmbeddingNorm(BowTransform bow) {
        this.bow = bow;
    }

    /** x̂ [rows, S, E] from the head's h. */
    public float[] forward(float[] head, int rows, int seqLen, int embedDim) {
        float[] x = bow.fromBow(head, rows, seqLen, embedDim);
        return bow.toBow(EmbeddingMatrix.normalize(x, embedDim), rows, seqLen, embedDim);
    }

    /** d/dh given d/dx̂, for the h of the forward. */
    public float[] backward(float[] head, float[] dReturned, int rows, int seqLen, int embedDim) {
        float[] x = bow.fromBow(head, rows, seqLen, embedDim);
        float[] dUnit = bow.toBowBackward(dReturned, rows, seqLen, embedDim);
        return bow.fromBowBackward(EmbeddingMatrix.backward(x, dUnit, embedDim), rows, seqLen, embedDim);
    }
}

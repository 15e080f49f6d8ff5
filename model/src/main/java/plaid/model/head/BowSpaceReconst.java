package plaid.model.head;

import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.model.PlaidParameters;
import plaid.model.bow.ReturnedEmbeddingNorm;
import plaid.options.PlaidConfig;
import plaid.options.bow.BowTransform;
import plaid.options.bow.DiffusionMode;

/**
 * The bow-space x̂ of reconst_first's head and of double_logit_reg's embed head (plaid-reference §7):
 * h = y Wᵀ + b + zb (no zb under {@code pred_x0}), and x̂ = h, or under {@code norm_ret_embeddings}
 * x̂ = {@link ReturnedEmbeddingNorm}(h). Forward and backward.
 */
final class BowSpaceReconst {
    private final ComputeBackend be;
    private final Readout readout;
    private final int rows, seqLen, embedDim;
    /** pred_x0: h leaves out zb. */
    private final boolean withoutZBias;
    /** norm_ret_embeddings; null without the word. */
    private final ReturnedEmbeddingNorm returnedNorm;
    /** x̂ [rows·S, E] of the latest forward. */
    private final Tensor xReconst;
    /** norm_ret_embeddings: h of the latest forward, which the normalisation's backward reads. */
    private float[] unnormalized;

    BowSpaceReconst(PlaidConfig config, PlaidParameters params, String suffix, BowTransform bow, int rows, int seqLen) {
        DiffusionMode mode = config.diffusionMode();
        this.be = params.backend();
        this.readout = new Readout(params, suffix);
        this.rows = rows;
        this.seqLen = seqLen;
        this.embedDim = config.embedDim;
        this.withoutZBias = mode.contains(DiffusionMode.Word.PRED_X0);
        this.returnedNorm =
                mode.contains(DiffusionMode.Word.NORM_RET_EMBEDDINGS) ? new ReturnedEmbeddingNorm(bow) : null;
        this.xReconst = be.allocate(rows * seqLen, embedDim);
    }

    Tensor value() {
        return xReconst;
    }

    /** Whether h leaves out zb (pred_x0), so that zb sends no gradient through this head. */
    boolean withoutZBias() {
        return withoutZBias;
    }

    /** x̂ from y; {@code computeZBias} says whether zb must be computed first (else the caller did so this forward). */
    void forward(Tensor y, ZBias zb, HeadInputs in, boolean computeZBias) {
        readout.forward(y, xReconst);
        if (!withoutZBias) {
            if (computeZBias) zb.forward(in);
            be.axpy(1f, zb.value(), xReconst);
        }
        if (returnedNorm != null) {
            unnormalized = be.download(xReconst);
            be.upload(returnedNorm.forward(unnormalized, rows, seqLen, embedDim), xReconst);
        }
    }

    /**
     * From d/dx̂ (host, [rows·S·E]): d/dh into {@code dh}, which is also d/dzb when zb is in h; the
     * readout's gradients when {@code parameterGradients}; d/dy into {@code dy}.
     */
    void backward(float[] dXReconst, Tensor y, Tensor dh, Tensor dy, boolean parameterGradients) {
        float[] dUnnormalized = returnedNorm == null
                ? dXReconst
                : returnedNorm.backward(unnormalized, dXReconst, rows, seqLen, embedDim);
        be.upload(dUnnormalized, dh);
        readout.backward(dh, y, dy, parameterGradients);
    }
}

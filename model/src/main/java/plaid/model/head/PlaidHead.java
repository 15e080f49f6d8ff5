package plaid.model.head;

import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;

/**
 * Plaid's own head (plaid-reference §2 steps 4–6), in the token and BoW_embedding modes:
 * <pre>
 *   y = output_norm(h)      logits = y W_outᵀ + b_out + zb Êᵀ      x̂ = softmax(logits) Ê
 * </pre>
 * On rows with m = 1 neither zb Êᵀ nor x̂ sends gradient to Ê.
 */
final class PlaidHead implements OutputHead {
    private final ComputeBackend be;
    private final OutputNorm norm;
    private final Readout readout;
    private final ZBias zb;
    private final LogitSet logits;
    private final Tensor xReconst;
    // gradient scratch: d/dy, d/dzb, and a [rows·S, E] temporary
    private final Tensor dY, dZb, scratch;

    PlaidHead(PlaidConfig config, PlaidParameters params, Tensor h) {
        this.be = params.backend();
        int tokens = h.shape()[0], e = config.embedDim;
        norm = new OutputNorm(config, params, "", h);
        readout = new Readout(params, "");
        zb = new ZBias(be, tokens, e);
        logits = LogitSet.allocate(be, tokens, config.vocabSize);
        xReconst = be.allocate(tokens, e);
        dY = be.allocate(h.shape());
        dZb = be.allocate(tokens, e);
        scratch = be.allocate(tokens, e);
    }

    @Override
    public LogitSet logits() {
        return logits;
    }

    @Override
    public Tensor xReconst() {
        return xReconst;
    }

    @Override
    public void forward(HeadInputs in) {
        norm.forward();
        zb.forward(in);
        readout.forward(norm.output(), logits.logits());
        be.gemm(false, true, 1f, zb.value(), in.embedding(), 1f, logits.logits());
        be.softmax(logits.logits(), logits.probs());
        be.gemm(false, false, 1f, logits.probs(), in.embedding(), 0f, xReconst);
    }

    @Override
    public void backward(HeadInputs in, HeadGradients grads) {
        float[] keep = in.liveEmbeddingRows();
        Tensor dLogits = logits.gradient();
        // x̂ = pÊ: dp = dx̂ Êᵀ, dÊ += pᵀ dx̂ (m = 0 rows), dlogits += softmax backward
        if (grads.dXReconst() != null) {
            Tensor dProbs = logits.logits(); // the logits are not read any more: their storage is reused
            be.gemm(false, true, 1f, grads.dXReconst(), in.embedding(), 0f, dProbs);
            be.softmaxBackward(logits.probs(), dProbs, dLogits, true);
            be.scaleGroups(grads.dXReconst(), keep, scratch);
            be.gemm(true, false, 1f, logits.probs(), scratch, 1f, grads.dEmbedding());
        }

        // logits = y W_outᵀ + b_out + zb Êᵀ
        readout.backward(dLogits, norm.output(), dY, grads.parameterGradients());
        be.gemm(false, false, 1f, dLogits, in.embedding(), 0f, dZb);
        be.scaleGroups(zb.value(), keep, scratch);
        be.gemm(true, false, 1f, dLogits, scratch, 1f, grads.dEmbedding());
        zb.backward(dZb, in, grads.dz(), grads.dGamma());

        norm.backward(dY, grads.dh(), grads.parameterGradients());
    }
}

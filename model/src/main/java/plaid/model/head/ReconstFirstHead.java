package plaid.model.head;

import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.model.PlaidParameters;
import plaid.model.bow.InverseTransformLogits;
import plaid.options.PlaidConfig;
import plaid.options.bow.BowTransform;

/**
 * reconst_first's head (plaid-reference §7): the bow-space x̂ directly, x̂ = y W_outᵀ + b_out + zb
 * ({@link BowSpaceReconst}), and logits from its inverse transform ({@link InverseTransformLogits}:
 * dot products with Ê, or negative distances under diff_lm_norms). softmax·Ê is never formed.
 */
final class ReconstFirstHead implements OutputHead {
    private final ComputeBackend be;
    private final int rows, seqLen, vocabSize;
    private final OutputNorm norm;
    private final BowSpaceReconst reconst;
    private final InverseTransformLogits bowSpaceLogits;
    private final ZBias zb;
    private final LogitSet logits;
    // gradient scratch: d/dy and d/dh of the bow-space readout
    private final Tensor dY, dHead;

    ReconstFirstHead(PlaidConfig config, PlaidParameters params, int rows, int seqLen, Tensor h) {
        this.be = params.backend();
        this.rows = rows;
        this.seqLen = seqLen;
        this.vocabSize = config.vocabSize;
        int tokens = rows * seqLen, e = config.embedDim;
        BowTransform bow = config.bowTransform();
        norm = new OutputNorm(config, params, "", h);
        reconst = new BowSpaceReconst(config, params, "", bow, rows, seqLen);
        bowSpaceLogits = InverseTransformLogits.forMode(config.diffusionMode(), bow);
        zb = new ZBias(be, tokens, e);
        logits = LogitSet.allocate(be, tokens, vocabSize);
        dY = be.allocate(h.shape());
        dHead = be.allocate(tokens, e);
    }

    @Override
    public LogitSet logits() {
        return logits;
    }

    @Override
    public Tensor xReconst() {
        return reconst.value();
    }

    @Override
    public void forward(HeadInputs in) {
        norm.forward();
        reconst.forward(norm.output(), zb, in, true);
        be.upload(bowSpaceLogits.logits(logitInputs(in)), logits.logits());
        be.softmax(logits.logits(), logits.probs());
    }

    @Override
    public void backward(HeadInputs in, HeadGradients grads) {
        // dx̂ is the caller's plus what the inverse-transform logits send back
        InverseTransformLogits.Gradients fromLogits =
                bowSpaceLogits.backward(logitInputs(in), be.download(logits.gradient()));
        float[] dHat = fromLogits.dXReconstBow();
        if (grads.dXReconst() != null) {
            float[] direct = be.download(grads.dXReconst());
            for (int k = 0; k < dHat.length; k++) dHat[k] += direct[k];
        }
        float[] dEmb = be.download(grads.dEmbedding()), dEmbFromLogits = fromLogits.dEmbedding();
        for (int k = 0; k < dEmb.length; k++) dEmb[k] += dEmbFromLogits[k];
        be.upload(dEmb, grads.dEmbedding());

        reconst.backward(dHat, norm.output(), dHead, dY, grads.parameterGradients());
        if (reconst.withoutZBias()) be.fill(grads.dz(), 0f);
        else zb.backward(dHead, in, grads.dz(), grads.dGamma());

        norm.backward(dY, grads.dh(), grads.parameterGradients());
    }

    private InverseTransformLogits.Inputs logitInputs(HeadInputs in) {
        return new InverseTransformLogits.Inputs(
                be.download(reconst.value()), rows, seqLen, be.download(in.embedding()), vocabSize, in.mask());
    }
}

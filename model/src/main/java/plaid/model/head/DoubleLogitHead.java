package plaid.model.head;

import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;
import plaid.options.bow.BowTransform;
import plaid.options.bow.DiffusionMode;

/**
 * double_logit_reg's head (plaid-reference §7): two readouts, each with its own output norm.
 * <pre>
 *   direct logits     = y_l W_lᵀ + b_l + zb′ Êᵀ,   zb′ = bow⁻¹(zb), or zb itself under direct_bow_x_to_logits
 *   x̂ (bow space)     = y_e W_eᵀ + b_e + zb        as reconst_first's ({@link BowSpaceReconst})
 *   logits from x̂     = x Êᵀ,                      x = bow⁻¹(x̂)
 * </pre>
 * {@code logits_direct_primary} makes the direct logits primary, else those from x̂ are; the denoiser
 * reads the primary ones as its logits unless built to read the secondary ones. On rows with m = 1
 * neither x·Êᵀ term sends gradient to Ê, as in Plaid's head.
 */
final class DoubleLogitHead implements OutputHead {
    private final ComputeBackend be;
    private final int rows, seqLen, embedDim;
    private final BowTransform bow;
    /** direct_bow_x_to_logits: zb enters the direct logits as it is rather than inverse-transformed. */
    private final boolean directBowXToLogits;

    private final OutputNorm normLogits, normEmbed;
    private final Readout directReadout;
    private final BowSpaceReconst reconst;
    private final ZBias zb;
    /** The set the denoiser reads as its logits, and the other one. */
    private final LogitSet read, other;
    /** The same two sets by what they are. */
    private final LogitSet direct, fromReconst;
    /** bow⁻¹(zb), and x = bow⁻¹(x̂), of the latest forward. */
    private final Tensor zbInverse, tokenSpaceReconst;
    // gradient scratch: d/dy of each readout, d/dzb, and two [rows·S, E] temporaries
    private final Tensor dYLogits, dYEmbed, dZb, dHead, scratch;

    DoubleLogitHead(
            PlaidConfig config, PlaidParameters params, int rows, int seqLen, boolean readSecondaryLogits, Tensor h) {
        DiffusionMode mode = config.diffusionMode();
        this.be = params.backend();
        this.rows = rows;
        this.seqLen = seqLen;
        this.embedDim = config.embedDim;
        this.bow = config.bowTransform();
        this.directBowXToLogits = mode.contains(DiffusionMode.Word.DIRECT_BOW_X_TO_LOGITS);
        int tokens = rows * seqLen, e = embedDim, v = config.vocabSize;
        normLogits = new OutputNorm(config, params, "_logits", h);
        normEmbed = new OutputNorm(config, params, "_embed", h);
        directReadout = new Readout(params, "_logits");
        reconst = new BowSpaceReconst(config, params, "_embed", bow, rows, seqLen);
        zb = new ZBias(be, tokens, e);
        read = LogitSet.allocate(be, tokens, v);
        other = LogitSet.allocate(be, tokens, v);
        boolean directRead = mode.contains(DiffusionMode.Word.LOGITS_DIRECT_PRIMARY) != readSecondaryLogits;
        direct = directRead ? read : other;
        fromReconst = directRead ? other : read;
        zbInverse = be.allocate(tokens, e);
        tokenSpaceReconst = be.allocate(tokens, e);
        dYLogits = be.allocate(h.shape());
        dYEmbed = be.allocate(h.shape());
        dZb = be.allocate(tokens, e);
        dHead = be.allocate(tokens, e);
        scratch = be.allocate(tokens, e);
    }

    @Override
    public LogitSet logits() {
        return read;
    }

    @Override
    public LogitSet otherLogits() {
        return other;
    }

    @Override
    public Tensor xReconst() {
        return reconst.value();
    }

    /** zb as the direct logits take it. */
    private Tensor directZBias() {
        return directBowXToLogits ? zb.value() : zbInverse;
    }

    @Override
    public void forward(HeadInputs in) {
        normLogits.forward();
        normEmbed.forward();
        zb.forward(in);
        directReadout.forward(normLogits.output(), direct.logits());
        if (!directBowXToLogits) be.upload(bow.fromBow(be.download(zb.value()), rows, seqLen, embedDim), zbInverse);
        be.gemm(false, true, 1f, directZBias(), in.embedding(), 1f, direct.logits());

        reconst.forward(normEmbed.output(), zb, in, false);
        be.upload(bow.fromBow(be.download(reconst.value()), rows, seqLen, embedDim), tokenSpaceReconst);
        be.gemm(false, true, 1f, tokenSpaceReconst, in.embedding(), 0f, fromReconst.logits());
        be.softmax(read.logits(), read.probs());
        be.softmax(other.logits(), other.probs());
    }

    @Override
    public void backward(HeadInputs in, HeadGradients grads) {
        Tensor dDirect = direct.gradient(), dFromReconst = fromReconst.gradient();
        float[] keep = in.liveEmbeddingRows();

        // logits from x̂: x Êᵀ with x = bow⁻¹(x̂); then x̂'s readout, whose d/dh is also d/dzb
        be.gemm(false, false, 1f, dFromReconst, in.embedding(), 0f, dHead);
        be.scaleGroups(tokenSpaceReconst, keep, scratch);
        be.gemm(true, false, 1f, dFromReconst, scratch, 1f, grads.dEmbedding());
        float[] dHat = bow.fromBowBackward(be.download(dHead), rows, seqLen, embedDim);
        if (grads.dXReconst() != null) {
            float[] fromCaller = be.download(grads.dXReconst());
            for (int k = 0; k < dHat.length; k++) dHat[k] += fromCaller[k];
        }
        reconst.backward(dHat, normEmbed.output(), dHead, dYEmbed, grads.parameterGradients());
        if (reconst.withoutZBias()) be.fill(dZb, 0f);
        else be.copy(dHead, dZb);

        // direct logits: y_l W_lᵀ + b_l + zb′Êᵀ
        directReadout.backward(dDirect, normLogits.output(), dYLogits, grads.parameterGradients());
        be.scaleGroups(directZBias(), keep, scratch);
        be.gemm(true, false, 1f, dDirect, scratch, 1f, grads.dEmbedding());
        be.gemm(false, false, 1f, dDirect, in.embedding(), 0f, dHead);
        if (!directBowXToLogits) be.upload(bow.fromBowBackward(be.download(dHead), rows, seqLen, embedDim), dHead);
        be.axpy(1f, dHead, dZb);
        zb.backward(dZb, in, grads.dz(), grads.dGamma());

        // both norms read h: dh = the logits norm's share + the embed norm's (written to dYLogits, read by now)
        normLogits.backward(dYLogits, grads.dh(), grads.parameterGradients());
        normEmbed.backward(dYEmbed, dYLogits, grads.parameterGradients());
        be.axpy(1f, dYLogits, grads.dh());
    }
}

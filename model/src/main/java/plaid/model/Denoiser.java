package plaid.model;

import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackend.Epilogue;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.model.bow.DiffusionMode;
import plaid.model.bow.BowTransform;
import plaid.model.bow.InverseTransformLogits;
import plaid.model.bow.ReturnedEmbeddingNorm;
import plaid.options.PlaidConfig;

/**
 * Plaid's denoiser model(z, γ, Ê, bias_scale, x_sc, m, segments) → (logits, x̂), forward
 * and backward side by side (plaid-reference §2). One instance holds the activations of
 * one batch shape; {@link #backward} uses those of the latest {@link #forward}.
 *
 * <p>The fork's modes (plaid-reference §7, design in {@link plaid.model.bow}) change the head. With
 * {@code reconst_first} it predicts the bow-space x̂ directly, x̂ = y W_outᵀ + b + zb (no zb under
 * {@code pred_x0}), and the logits come from its inverse transform ({@link InverseTransformLogits});
 * softmax·Ê is never formed. With {@code double_logit_reg} two heads with norms of their own give
 * direct logits (Plaid's, with zb inverse-transformed unless {@code direct_bow_x_to_logits}) and the
 * bow-space x̂ with its inverse-transform logits; one set is primary ({@code logits_direct_primary}
 * picks the direct ones), the other secondary. {@code norm_ret_embeddings} normalises the bow-space
 * x̂ head's vectors ({@link ReturnedEmbeddingNorm}).
 */
public final class Denoiser {
    private static final float NORM_EPS = 1e-5f;
    private static final int GAMMA_FEATURES = 64;

    private final PlaidParameters params;
    private final ComputeBackend be;
    private final PlaidConfig c;
    private final int rows;
    private final int seqLen;
    private final int tokens;
    /** Which output head the mode builds. */
    private enum Head { PLAID, RECONST_FIRST, DOUBLE_LOGIT_REG }

    private final Head head;
    /** Logits of the bow-space x̂ (reconst_first, double_logit_reg); null for Plaid's head. */
    private final InverseTransformLogits bowSpaceLogits;
    /** norm_ret_embeddings on the bow-space x̂ head; null without the word. */
    private final ReturnedEmbeddingNorm returnedNorm;
    /** pred_x0: the bow-space x̂ head leaves out zb. */
    private final boolean withoutZBias;
    /** double_logit_reg: whether {@link #logits()} holds the direct logits (else those from x̂). */
    private final boolean directLogitsRead;
    /** double_logit_reg: zb enters the direct logits as it is rather than inverse-transformed. */
    private final boolean directBowXToLogits;
    private final BowTransform bow;

    // inputs of the latest forward
    private Tensor z;
    private Tensor embedding;
    private double[] gamma;
    private float[] mask;
    private float biasScale;
    private Segments segments;

    // activations
    private final Tensor xIn, xSelfcondScaled, h0, gammaFeatures;
    private final Tensor[] blockIn, norm1, rstd1, qkv, attn, lse, mid, norm2, rstd2, fc1Pre;
    /** GELU(fc1) of the block at hand: recomputed from fc1Pre in the backward rather than kept per block (4·D floats a token each). */
    private final Tensor mlpActivation;
    private final Tensor hOut, lnOut, lnMean, lnRstd, zBias, logits, probs, xReconst;
    // gradient scratch
    private final Tensor dh, dMid, dNorm, dAttn, dQkv, dFc, dOutHead, dLogits, dZBias, dX, dGammaFeatures, gammaRowSum, dZ;
    // double_logit_reg only (null otherwise): the embed head's norm, the second set of logits,
    // bow⁻¹(zb) for the direct logits, x = bow⁻¹(x̂) of the embed head, and gradient scratch
    private final Tensor lnOutEmbed, lnMeanEmbed, lnRstdEmbed, secondaryLogits, secondaryProbs, dSecondaryLogits;
    private final Tensor zbLogits, tokenSpaceReconst, dOutHeadEmbed, dHeadScratch;
    /** norm_ret_embeddings: the head's output before the normalisation, for the backward. */
    private float[] unnormalizedHead;
    /** Whether the latest forward kept what {@link #backward} reads (the blocks' qkv, attention outputs and log-sum-exps, the MLPs' pre-activations). */
    private boolean keptForBackward;
    /** Whether the logit gradients were zeroed since the latest forward ({@link #zeroLogitGradients}). */
    private boolean logitGradientsZeroed;

    public Denoiser(PlaidParameters params, int rows, int seqLen) {
        this(params, rows, seqLen, false);
    }

    /**
     * @param readSecondaryLogits with double_logit_reg, {@link #logits()} and {@link #probs()} hold the
     *                            secondary logits and {@link #secondaryLogits()} the primary ones (the
     *                            sampler's use_secondary_logits); refused for modes with one set of logits
     */
    public Denoiser(PlaidParameters params, int rows, int seqLen, boolean readSecondaryLogits) {
        this.params = params;
        this.be = params.backend();
        this.c = params.config();
        this.rows = rows;
        this.seqLen = seqLen;
        this.tokens = rows * seqLen;
        DiffusionMode mode = c.diffusionMode();
        this.head = mode.contains(DiffusionMode.Word.DOUBLE_LOGIT_REG) ? Head.DOUBLE_LOGIT_REG
                : mode.contains(DiffusionMode.Word.RECONST_FIRST) ? Head.RECONST_FIRST : Head.PLAID;
        if (readSecondaryLogits && head != Head.DOUBLE_LOGIT_REG) {
            throw new IllegalArgumentException("use_secondary_logits needs diffusion_mode double_logit_reg; " + mode + " has one set of logits");
        }
        this.bow = head == Head.PLAID ? null : c.bowTransform();
        this.bowSpaceLogits = head == Head.PLAID ? null : InverseTransformLogits.forMode(mode, bow);
        this.returnedNorm = mode.contains(DiffusionMode.Word.NORM_RET_EMBEDDINGS) ? new ReturnedEmbeddingNorm(bow) : null;
        this.withoutZBias = mode.contains(DiffusionMode.Word.PRED_X0);
        this.directLogitsRead = mode.contains(DiffusionMode.Word.LOGITS_DIRECT_PRIMARY) != readSecondaryLogits;
        this.directBowXToLogits = mode.contains(DiffusionMode.Word.DIRECT_BOW_X_TO_LOGITS);
        int d = c.dim, e = c.embedDim, v = c.vocabSize, l = c.nBlocks;
        xIn = be.allocate(tokens, e);
        xSelfcondScaled = be.allocate(tokens, e);
        h0 = be.allocate(tokens, d);
        gammaFeatures = be.allocate(rows, GAMMA_FEATURES);
        blockIn = new Tensor[l];
        norm1 = new Tensor[l];
        rstd1 = new Tensor[l];
        qkv = new Tensor[l];
        attn = new Tensor[l];
        lse = new Tensor[l];
        mid = new Tensor[l];
        norm2 = new Tensor[l];
        rstd2 = new Tensor[l];
        fc1Pre = new Tensor[l];
        for (int i = 0; i < l; i++) {
            blockIn[i] = i == 0 ? h0 : be.allocate(tokens, d);
            norm1[i] = be.allocate(tokens, d);
            rstd1[i] = be.allocate(tokens);
            qkv[i] = be.allocate(rows, seqLen, 3, c.nHeads, c.headDim());
            attn[i] = be.allocate(tokens, d);
            lse[i] = be.allocate(rows, c.nHeads, seqLen);
            mid[i] = be.allocate(tokens, d);
            norm2[i] = be.allocate(tokens, d);
            rstd2[i] = be.allocate(tokens);
            fc1Pre[i] = be.allocate(tokens, 4 * d);
        }
        mlpActivation = be.allocate(tokens, 4 * d);
        hOut = be.allocate(tokens, d);
        lnOut = be.allocate(tokens, d);
        lnMean = be.allocate(tokens);
        lnRstd = be.allocate(tokens);
        zBias = be.allocate(tokens, e);
        logits = be.allocate(tokens, v);
        probs = be.allocate(tokens, v);
        xReconst = be.allocate(tokens, e);
        dh = be.allocate(tokens, d);
        dMid = be.allocate(tokens, d);
        dNorm = be.allocate(tokens, d);
        dAttn = be.allocate(tokens, d);
        dQkv = be.allocate(tokens, 3 * d);
        dFc = be.allocate(tokens, 4 * d);
        dOutHead = be.allocate(tokens, d);
        dLogits = be.allocate(tokens, v);
        dZBias = be.allocate(tokens, e);
        dX = be.allocate(tokens, e);
        dGammaFeatures = be.allocate(rows, GAMMA_FEATURES);
        gammaRowSum = be.allocate(rows, d);
        dZ = be.allocate(tokens, e);
        if (head == Head.DOUBLE_LOGIT_REG) {
            lnOutEmbed = be.allocate(tokens, d);
            lnMeanEmbed = be.allocate(tokens);
            lnRstdEmbed = be.allocate(tokens);
            secondaryLogits = be.allocate(tokens, v);
            secondaryProbs = be.allocate(tokens, v);
            dSecondaryLogits = be.allocate(tokens, v);
            zbLogits = be.allocate(tokens, e);
            tokenSpaceReconst = be.allocate(tokens, e);
            dOutHeadEmbed = be.allocate(tokens, d);
            dHeadScratch = be.allocate(tokens, e);
        } else {
            lnOutEmbed = lnMeanEmbed = lnRstdEmbed = secondaryLogits = secondaryProbs = dSecondaryLogits = null;
            zbLogits = tokenSpaceReconst = dOutHeadEmbed = dHeadScratch = null;
        }
    }

    public int rows() { return rows; }

    /**
     * d/dlogits [rows·S, V] for {@link #backward}: zero after each forward, the caller adds
     * the loss's or the guidance's gradient here.
     */
    public Tensor logitGradient() {
        zeroLogitGradients();
        return dLogits;
    }

    /**
     * Zeroes the logit gradients once per forward, when first asked for: a forward with no backward
     * after it (unguided sampling) never writes the [rows·S, V] tensors.
     */
    private void zeroLogitGradients() {
        if (logitGradientsZeroed) return;
        be.fill(dLogits, 0f);
        if (dSecondaryLogits != null) be.fill(dSecondaryLogits, 0f);
        logitGradientsZeroed = true;
    }

    public int seqLen() { return seqLen; }

    /** Logits [rows·S, V] of the latest forward: the primary ones, or the secondary when built to read those. */
    public Tensor logits() { return logits; }

    /** softmax(logits) [rows·S, V] of the latest forward. */
    public Tensor probs() { return probs; }

    /** Whether the head gives a second set of logits (double_logit_reg). */
    public boolean hasSecondaryLogits() { return secondaryLogits != null; }

    /** The other set of logits [rows·S, V] of double_logit_reg (the secondary ones, unless built to read those). */
    public Tensor secondaryLogits() { return requireSecondary(secondaryLogits); }

    /** softmax of {@link #secondaryLogits()}. */
    public Tensor secondaryProbs() { return requireSecondary(secondaryProbs); }

    /** d/d{@link #secondaryLogits()}, zero after each forward like {@link #logitGradient()}. */
    public Tensor secondaryLogitGradient() {
        zeroLogitGradients();
        return requireSecondary(dSecondaryLogits);
    }

    private Tensor requireSecondary(Tensor t) {
        if (t == null) throw new IllegalStateException("diffusion_mode " + c.diffusionMode() + " has no secondary logits");
        return t;
    }

    /** x̂ = softmax(logits)·Ê [rows·S, E] of the latest forward; with reconst_first the bow-space x̂ of its head. */
    public Tensor xReconst() { return xReconst; }

    // ---- per-row scalars of γ ------------------------------------------------------

    static double alphaSquared(double gamma) { return NoiseSchedule.sigmoid(-gamma); }

    static double sigmaSquared(double gamma) { return NoiseSchedule.sigmoid(gamma); }

    /** α² as the model computes it in its forward: torch.sigmoid(−γ) on a float32 γ, in float32. */
    private static float alphaSquaredFloat(double gamma) { return (float) NoiseSchedule.sigmoid(-(double) (float) gamma); }

    /** σ² likewise. */
    private static float sigmaSquaredFloat(double gamma) { return (float) NoiseSchedule.sigmoid((double) (float) gamma); }

    /** Frequencies exp(linspace(−5, 5, 32)) of the γ features. */
    private static final double[] GAMMA_FREQ = new double[GAMMA_FEATURES / 2];

    static {
        int n = GAMMA_FREQ.length;
        for (int k = 0; k < n; k++) GAMMA_FREQ[k] = Math.exp(-5.0 + 10.0 * k / (n - 1));
    }

    // ---- forward ------------------------------------------------------------------

    /**
     * @param z          noisy latents [rows·S, E]
     * @param gamma      γ per row (float64)
     * @param embedding  the normalised embedding matrix Ê [V, E]
     * @param biasScale  weight of the zb·Êᵀ logit bias
     * @param xSelfcond  self-conditioning input [rows·S, E] (zeros when off)
     * @param mask       per row 1 = on the self-conditioning path (null: all 1); only
     *                   changes which gradients reach Ê
     * @param segments   attention segments per row
     */
    public void forward(Tensor z, double[] gamma, Tensor embedding, double biasScale, Tensor xSelfcond, float[] mask, Segments segments) {
        forward(z, gamma, embedding, biasScale, xSelfcond, mask, segments, true);
    }

    /**
     * {@link #forward(Tensor, double[], Tensor, double, Tensor, float[], Segments)}, keeping what the
     * backward reads only when {@code forBackward}: a forward nothing backpropagates through (unguided
     * sampling, the self-conditioning pass, evaluation) lets the backend keep the blocks' activations at
     * its GEMM operand precision and skip the fp32 copies only the backward reads.
     */
    public void forward(Tensor z, double[] gamma, Tensor embedding, double biasScale, Tensor xSelfcond, float[] mask, Segments segments,
                        boolean forBackward) {
        if (gamma.length != rows || segments.rows() != rows || segments.seqLen() != seqLen) {
            throw new IllegalArgumentException("denoiser built for " + rows + "×" + seqLen + " got γ for " + gamma.length + " rows, segments " + segments.rows() + "×" + segments.seqLen());
        }
        this.z = z;
        this.gamma = gamma.clone();
        this.embedding = embedding;
        this.biasScale = (float) biasScale;
        this.mask = mask;
        this.segments = segments;
        this.keptForBackward = forBackward;
        int e = c.embedDim, d = c.dim;

        // 1. rescale z to unit variance: x = z / √(α²/E + σ²)
        float[] invStd = new float[rows];
        for (int b = 0; b < rows; b++) invStd[b] = 1f / (float) Math.sqrt(alphaSquaredFloat(gamma[b]) / (float) e + sigmaSquaredFloat(gamma[b]));
        be.scaleGroups(z, invStd, xIn);

        // 2. input projections and the γ features
        be.gemm(false, true, 1f, xIn, params.model("input_linear.weight").value(), 0f, h0);
        float[] sqrtE = new float[rows];
        java.util.Arrays.fill(sqrtE, (float) Math.sqrt(e));
        be.scaleGroups(xSelfcond, sqrtE, xSelfcondScaled);
        be.gemm(false, true, 1f, xSelfcondScaled, params.model("selfcond_linear.weight").value(), 1f, h0);
        be.upload(gammaFeatureValues(gamma), gammaFeatures);
        Tensor gammaProj = gammaRowSum;
        be.gemm(false, true, 1f, gammaFeatures, params.model("gamma_linear.weight").value(), 0f, gammaProj);
        be.addToGroupRows(gammaProj, h0.reshape(rows, seqLen, d));

        // 3. transformer blocks
        float residual = (float) (1.0 / Math.sqrt(c.nBlocks));
        float[] invFreq = params.rotaryInvFreq();
        for (int i = 0; i < c.nBlocks; i++) {
            String p = "blocks." + i + ".";
            be.rmsNorm(blockIn[i], params.model(p + "rmsnorm1.weight").value(), NORM_EPS, norm1[i], rstd1[i]);
            be.attentionOnto(residual, norm1[i], params.model(p + "attn_qkv.weight").value(), params.model(p + "attn_out.weight").value(), c.nHeads,
                    invFreq, segments, blockIn[i], mid[i], qkv[i], attn[i], lse[i], keptForBackward);
            be.rmsNorm(mid[i], params.model(p + "rmsnorm2.weight").value(), NORM_EPS, norm2[i], rstd2[i]);
            Tensor out = i + 1 < c.nBlocks ? blockIn[i + 1] : hOut;
            be.mlpOnto(residual, norm2[i], params.model(p + "mlp.fc1.weight").value(), params.model(p + "mlp.fc2.weight").value(), mid[i], out,
                    mlpActivation, fc1Pre[i], keptForBackward);
        }

        // 4. output norm with the µP readout scale 256/D
        if (head == Head.DOUBLE_LOGIT_REG) {
            outputNorm("_logits", lnOut, lnMean, lnRstd);
            outputNorm("_embed", lnOutEmbed, lnMeanEmbed, lnRstdEmbed);
            doubleLogitHead();
            return;
        }
        outputNorm("", lnOut, lnMean, lnRstd);
        if (head == Head.RECONST_FIRST) {
            reconstFirstHead();
            return;
        }

        // 5. logits = y W_outᵀ + b + zb Êᵀ with zb = bias_scale·(α/σ²)·z
        be.scaleGroups(z, zBiasFactors(), zBias);
        be.gemm(false, true, 1f, lnOut, params.model("output_linear.weight").value(), 0f, logits, Epilogue.BIAS,
                params.model("output_linear.bias").value(), null);
        be.gemm(false, true, 1f, zBias, embedding, 1f, logits);

        // 6. x̂ = softmax(logits) Ê
        be.softmax(logits, probs);
        be.gemm(false, false, 1f, probs, embedding, 0f, xReconst);
        logitGradientsZeroed = false;
    }

    /** LayerNorm of the blocks' output with the weight output_norm{suffix}, times the µP readout scale. */
    private void outputNorm(String suffix, Tensor out, Tensor mean, Tensor rstd) {
        be.layerNorm(hOut, params.model("output_norm" + suffix + ".weight").value(), NORM_EPS, out, mean, rstd);
        be.scale(out, (float) (1.0 / c.widthMult()));
    }

    /** reconst_first's steps 5–6: x̂ = y W_outᵀ + b (+ zb), logits from bow⁻¹(x̂), p = softmax(logits). */
    private void reconstFirstHead() {
        bowSpaceReconst(lnOut, "", true);
        be.upload(bowSpaceLogits.logits(bowSpaceLogitInputs()), logits);
        be.softmax(logits, probs);
        logitGradientsZeroed = false;
    }

    /**
     * The bow-space x̂ head into {@link #xReconst}: y W_{suffix}ᵀ + b (+ zb unless pred_x0; {@code zbFresh}
     * says whether {@link #zBias} must be computed first), normalised under norm_ret_embeddings.
     */
    private void bowSpaceReconst(Tensor y, String suffix, boolean zbFresh) {
        be.gemm(false, true, 1f, y, params.model("output_linear" + suffix + ".weight").value(), 0f, xReconst, Epilogue.BIAS,
                params.model("output_linear" + suffix + ".bias").value(), null);
        if (!withoutZBias) {
            if (zbFresh) be.scaleGroups(z, zBiasFactors(), zBias);
            be.axpy(1f, zBias, xReconst);
        }
        if (returnedNorm != null) {
            unnormalizedHead = be.download(xReconst);
            be.upload(returnedNorm.forward(unnormalizedHead, rows, seqLen, c.embedDim), xReconst);
        }
    }

    /** The d/dh of {@link #bowSpaceReconst}'s output h before the normalisation, given d/dx̂. */
    private float[] throughReturnedNorm(float[] dReturned) {
        return returnedNorm == null ? dReturned : returnedNorm.backward(unnormalizedHead, dReturned, rows, seqLen, c.embedDim);
    }

    /**
     * double_logit_reg's steps 5–6. Direct logits y_l W_lᵀ + b_l + zb′Êᵀ with zb′ = bow⁻¹(zb) (zb itself under
     * direct_bow_x_to_logits); the embed head's x̂ as reconst_first's, and its logits x·Êᵀ with x = bow⁻¹(x̂).
     */
    private void doubleLogitHead() {
        Tensor direct = directLogitsRead ? logits : secondaryLogits;
        Tensor fromEmbed = directLogitsRead ? secondaryLogits : logits;
        be.scaleGroups(z, zBiasFactors(), zBias);
        be.gemm(false, true, 1f, lnOut, params.model("output_linear_logits.weight").value(), 0f, direct, Epilogue.BIAS,
                params.model("output_linear_logits.bias").value(), null);
        if (!directBowXToLogits) be.upload(bow.fromBow(be.download(zBias), rows, seqLen, c.embedDim), zbLogits);
        be.gemm(false, true, 1f, directLogitsZBias(), embedding, 1f, direct);

        bowSpaceReconst(lnOutEmbed, "_embed", false);
        be.upload(bow.fromBow(be.download(xReconst), rows, seqLen, c.embedDim), tokenSpaceReconst);
        be.gemm(false, true, 1f, tokenSpaceReconst, embedding, 0f, fromEmbed);
        be.softmax(logits, probs);
        be.softmax(secondaryLogits, secondaryProbs);
        logitGradientsZeroed = false;
    }

    /** zb as double_logit_reg's direct logits take it: bow⁻¹(zb), or zb itself under direct_bow_x_to_logits. */
    private Tensor directLogitsZBias() {
        return directBowXToLogits ? zBias : zbLogits;
    }

    private InverseTransformLogits.Inputs bowSpaceLogitInputs() {
        return new InverseTransformLogits.Inputs(be.download(xReconst), rows, seqLen, be.download(embedding), c.vocabSize, mask);
    }

    private float[] zBiasFactors() {
        float[] f = new float[rows];
        for (int b = 0; b < rows; b++) f[b] = biasScale * ((float) Math.sqrt(alphaSquaredFloat(gamma[b])) / sigmaSquaredFloat(gamma[b]));
        return f;
    }

    private static float[] gammaFeatureValues(double[] gamma) {
        int half = GAMMA_FREQ.length;
        float[] g = new float[gamma.length * GAMMA_FEATURES];
        for (int b = 0; b < gamma.length; b++) {
            for (int k = 0; k < half; k++) {
                double a = GAMMA_FREQ[k] * gamma[b];
                g[b * GAMMA_FEATURES + k] = (float) Math.sin(a);
                g[b * GAMMA_FEATURES + half + k] = (float) Math.cos(a);
            }
        }
        return g;
    }

    // ---- backward -----------------------------------------------------------------

    /** Where a norm's weight gradient goes: the parameter's, or nowhere (null) when none is wanted. */
    private static Tensor weightGradient(Parameter norm, boolean parameterGradients) {
        return parameterGradients ? norm.grad() : null;
    }

    /** What the backward returns besides the parameter gradients it accumulates. */
    public record InputGradients(Tensor dz, double[] dGamma) {}

    /**
     * Backpropagates what the caller wrote into {@link #logitGradient()} and
     * {@code dXReconst} [rows·S, E] (may be null) through the latest forward. Accumulates into the model's
     * parameter gradients and into {@code dEmbedding} (rows with m = 1 send none there);
     * returns d/dz and d/dγ per row. With {@code parameterGradients} false (guidance, which
     * wants d/dz only) the parameters' gradients are neither computed nor touched.
     */
    public InputGradients backward(Tensor dXReconst, Tensor dEmbedding, boolean parameterGradients) {
        if (!keptForBackward) throw new IllegalStateException("the latest forward was run without keeping what the backward reads (forBackward false)");
        int d = c.dim;
        double[] dGamma = new double[rows];
        zeroLogitGradients(); // a caller that wrote no logit gradient backpropagates zeros there
        switch (head) {
            case PLAID -> plaidHeadBackward(dXReconst, dEmbedding, parameterGradients, dGamma);
            case RECONST_FIRST -> reconstFirstHeadBackward(dXReconst, dEmbedding, parameterGradients, dGamma);
            case DOUBLE_LOGIT_REG -> doubleLogitHeadBackward(dXReconst, dEmbedding, parameterGradients, dGamma);
        }

        // 4. output norm(s)
        if (head == Head.DOUBLE_LOGIT_REG) {
            outputNormBackward("_logits", dOutHead, lnMean, lnRstd, dh, parameterGradients);
            outputNormBackward("_embed", dOutHeadEmbed, lnMeanEmbed, lnRstdEmbed, dNorm, parameterGradients);
            be.axpy(1f, dNorm, dh);
        } else {
            outputNormBackward("", dOutHead, lnMean, lnRstd, dh, parameterGradients);
        }

        // 3. blocks in reverse; dh holds d/d(block output)
        float residual = (float) (1.0 / Math.sqrt(c.nBlocks));
        float[] invFreq = params.rotaryInvFreq();
        for (int i = c.nBlocks - 1; i >= 0; i--) {
            String p = "blocks." + i + ".";
            Parameter fc1 = params.model(p + "mlp.fc1.weight"), fc2 = params.model(p + "mlp.fc2.weight");
            Parameter n1 = params.model(p + "rmsnorm1.weight"), n2 = params.model(p + "rmsnorm2.weight");
            Parameter wQkv = params.model(p + "attn_qkv.weight"), wO = params.model(p + "attn_out.weight");
            // MLP: out = mid + r·fc2(gelu(fc1(norm2(mid))))
            be.gemm(false, false, residual, dh, fc2.value(), 0f, dFc);
            if (parameterGradients) {
                be.gelu(fc1Pre[i], mlpActivation);
                be.gemm(true, false, residual, dh, mlpActivation, 1f, fc2.grad());
            }
            be.geluBackward(dFc, fc1Pre[i], dFc);
            if (parameterGradients) be.gemm(true, false, 1f, dFc, norm2[i], 1f, fc1.grad());
            be.gemm(false, false, 1f, dFc, fc1.value(), 0f, dNorm);
            be.rmsNormBackward(dNorm, mid[i], n2.value(), rstd2[i], dMid, weightGradient(n2, parameterGradients));
            be.axpy(1f, dh, dMid);
            // attention: mid = in + r·attn W_oᵀ
            be.gemm(false, false, residual, dMid, wO.value(), 0f, dAttn);
            if (parameterGradients) be.gemm(true, false, residual, dMid, attn[i], 1f, wO.grad());
            Tensor dQkv5 = dQkv.reshape(rows, seqLen, 3, c.nHeads, c.headDim());
            be.attentionBackward(dAttn.reshape(rows, seqLen, c.nHeads, c.headDim()), qkv[i], attn[i].reshape(rows, seqLen, c.nHeads, c.headDim()), lse[i], c.nHeads, segments, dQkv5);
            be.rotary(dQkv5, c.nHeads, invFreq, true);
            if (parameterGradients) be.gemm(true, false, 1f, dQkv, norm1[i], 1f, wQkv.grad());
            be.gemm(false, false, 1f, dQkv, wQkv.value(), 0f, dNorm);
            be.rmsNormBackward(dNorm, blockIn[i], n1.value(), rstd1[i], dh, weightGradient(n1, parameterGradients));
            be.axpy(1f, dMid, dh);
        }

        // 2. inputs: h0 = x W_inᵀ + (√E x_sc) W_scᵀ + g(γ) W_gᵀ
        if (parameterGradients) be.gemm(true, false, 1f, dh, xIn, 1f, params.model("input_linear.weight").grad());
        if (parameterGradients) be.gemm(true, false, 1f, dh, xSelfcondScaled, 1f, params.model("selfcond_linear.weight").grad());
        be.sumGroupRows(dh, gammaRowSum, false);
        Parameter wG = params.model("gamma_linear.weight");
        if (parameterGradients) be.gemm(true, false, 1f, gammaRowSum, gammaFeatures, 1f, wG.grad());
        be.gemm(false, false, 1f, gammaRowSum, wG.value(), 0f, dGammaFeatures);
        float[] dFeat = be.download(dGammaFeatures);
        int half = GAMMA_FREQ.length;
        for (int b = 0; b < rows; b++) {
            for (int k = 0; k < half; k++) {
                double a = GAMMA_FREQ[k] * gamma[b];
                dGamma[b] += GAMMA_FREQ[k] * (dFeat[b * GAMMA_FEATURES + k] * Math.cos(a) - dFeat[b * GAMMA_FEATURES + half + k] * Math.sin(a));
            }
        }

        // 1. x = z/√var: dz += dx/√var, dγ += Σ(dx⊙z)·d(var^-½)/dγ
        be.gemm(false, false, 1f, dh, params.model("input_linear.weight").value(), 0f, dX);
        double[] dxDotZ = be.dotGroups(dX, z, rows);
        float[] invStd = new float[rows];
        int e = c.embedDim;
        for (int b = 0; b < rows; b++) {
            double a2 = alphaSquared(gamma[b]), s2 = sigmaSquared(gamma[b]);
            double var = a2 / e + s2;
            invStd[b] = 1f / (float) Math.sqrt(var);
            double dVar = a2 * s2 * (1 - 1.0 / e);
            dGamma[b] += dxDotZ[b] * (-0.5) * Math.pow(var, -1.5) * dVar;
        }
        be.scaleGroups(dX, invStd, dX);
        be.axpy(1f, dX, dZ);
        return new InputGradients(dZ, dGamma);
    }

    /** Plaid's head backward, steps 6 and 5: writes dOutHead, accumulates Ê's and γ's gradients, sets dZ. */
    private void plaidHeadBackward(Tensor dXReconst, Tensor dEmbedding, boolean parameterGradients, double[] dGamma) {
        float[] keep = liveEmbeddingRows();
        // 6. x̂ = pÊ: dp = dx̂ Êᵀ, dÊ += pᵀ dx̂ (m = 0 rows), dlogits = softmax backward
        if (dXReconst != null) {
            Tensor dProbs = logits; // logits are not needed any more: reuse their storage
            be.gemm(false, true, 1f, dXReconst, embedding, 0f, dProbs);
            be.softmaxBackward(probs, dProbs, dLogits, true);
            be.scaleGroups(dXReconst, keep, dX);
            be.gemm(true, false, 1f, probs, dX, 1f, dEmbedding);
        }

        // 5. head
        Parameter wOut = params.model("output_linear.weight"), bOut = params.model("output_linear.bias");
        if (parameterGradients) be.gemm(true, false, 1f, dLogits, lnOut, 1f, wOut.grad());
        if (parameterGradients) be.sumGroupRows(dLogits, bOut.grad().reshape(1, c.vocabSize), true);
        be.gemm(false, false, 1f, dLogits, wOut.value(), 0f, dOutHead);
        be.gemm(false, false, 1f, dLogits, embedding, 0f, dZBias);
        be.scaleGroups(zBias, keep, dX);
        be.gemm(true, false, 1f, dLogits, dX, 1f, dEmbedding);

        zBiasBackward(dZBias, dGamma);
    }

    /** Through the output norm output_norm{suffix}: d/d(blocks' output) into {@code dx} from d/d(its scaled output). */
    private void outputNormBackward(String suffix, Tensor dOut, Tensor mean, Tensor rstd, Tensor dx, boolean parameterGradients) {
        be.scale(dOut, (float) (1.0 / c.widthMult()));
        Parameter w = params.model("output_norm" + suffix + ".weight");
        be.layerNormBackward(dOut, hOut, w.value(), mean, rstd, dx, weightGradient(w, parameterGradients));
    }

    /**
     * reconst_first's head backward: dx̂ is the caller's plus what the inverse-transform logits send
     * back; writes dOutHead, accumulates Ê's and γ's gradients, sets dZ.
     */
    private void reconstFirstHeadBackward(Tensor dXReconst, Tensor dEmbedding, boolean parameterGradients, double[] dGamma) {
        InverseTransformLogits.Gradients fromLogits = bowSpaceLogits.backward(bowSpaceLogitInputs(), be.download(dLogits));
        float[] dHat = fromLogits.dXReconstBow();
        if (dXReconst != null) {
            float[] direct = be.download(dXReconst);
            for (int k = 0; k < dHat.length; k++) dHat[k] += direct[k];
        }
        float[] dEmb = be.download(dEmbedding), dEmbFromLogits = fromLogits.dEmbedding();
        for (int k = 0; k < dEmb.length; k++) dEmb[k] += dEmbFromLogits[k];
        be.upload(dEmb, dEmbedding);

        Tensor dXHat = dX; // scratch until step 1 overwrites it
        be.upload(throughReturnedNorm(dHat), dXHat);
        bowSpaceReconstBackward(lnOut, "", dXHat, dOutHead, parameterGradients);
        if (withoutZBias) be.fill(dZ, 0f);
        else zBiasBackward(dXHat, dGamma);
    }

    /** The readout of the bow-space x̂ head from y, given d/dh: its parameters' gradients, and d/dy into {@code dY}. */
    private void bowSpaceReconstBackward(Tensor y, String suffix, Tensor dHead, Tensor dY, boolean parameterGradients) {
        Parameter wOut = params.model("output_linear" + suffix + ".weight"), bOut = params.model("output_linear" + suffix + ".bias");
        if (parameterGradients) be.gemm(true, false, 1f, dHead, y, 1f, wOut.grad());
        if (parameterGradients) be.sumGroupRows(dHead, bOut.grad().reshape(1, c.embedDim), true);
        be.gemm(false, false, 1f, dHead, wOut.value(), 0f, dY);
    }

    /**
     * double_logit_reg's head backward from both sets of logits and the caller's dx̂: writes dOutHead and
     * dOutHeadEmbed, accumulates Ê's and γ's gradients, sets dZ. Rows with m = 1 see a detached Ê in both
     * x·Êᵀ terms, as in Plaid's head.
     */
    private void doubleLogitHeadBackward(Tensor dXReconst, Tensor dEmbedding, boolean parameterGradients, double[] dGamma) {
        Tensor dDirect = directLogitsRead ? dLogits : dSecondaryLogits;
        Tensor dFromEmbed = directLogitsRead ? dSecondaryLogits : dLogits;
        float[] keep = liveEmbeddingRows();
        int e = c.embedDim;

        // logits from the embed head: x·Êᵀ with x = bow⁻¹(x̂)
        be.gemm(false, false, 1f, dFromEmbed, embedding, 0f, dHeadScratch);
        be.scaleGroups(tokenSpaceReconst, keep, dX);
        be.gemm(true, false, 1f, dFromEmbed, dX, 1f, dEmbedding);
        float[] dHat = bow.fromBowBackward(be.download(dHeadScratch), rows, seqLen, e);
        if (dXReconst != null) {
            float[] fromCaller = be.download(dXReconst);
            for (int k = 0; k < dHat.length; k++) dHat[k] += fromCaller[k];
        }
        be.upload(throughReturnedNorm(dHat), dHeadScratch);
        bowSpaceReconstBackward(lnOutEmbed, "_embed", dHeadScratch, dOutHeadEmbed, parameterGradients);
        if (withoutZBias) be.fill(dZBias, 0f);
        else be.copy(dHeadScratch, dZBias);

        // direct logits: y_l W_lᵀ + b_l + zb′Êᵀ
        Parameter wOut = params.model("output_linear_logits.weight"), bOut = params.model("output_linear_logits.bias");
        if (parameterGradients) be.gemm(true, false, 1f, dDirect, lnOut, 1f, wOut.grad());
        if (parameterGradients) be.sumGroupRows(dDirect, bOut.grad().reshape(1, c.vocabSize), true);
        be.gemm(false, false, 1f, dDirect, wOut.value(), 0f, dOutHead);
        be.scaleGroups(directLogitsZBias(), keep, dX);
        be.gemm(true, false, 1f, dDirect, dX, 1f, dEmbedding);
        be.gemm(false, false, 1f, dDirect, embedding, 0f, dHeadScratch);
        if (!directBowXToLogits) be.upload(bow.fromBowBackward(be.download(dHeadScratch), rows, seqLen, e), dHeadScratch);
        be.axpy(1f, dHeadScratch, dZBias);
        zBiasBackward(dZBias, dGamma);
    }

    /** 1 − m per row: which rows' x·Êᵀ terms send gradient to Ê (a null mask: none). */
    private float[] liveEmbeddingRows() {
        float[] keep = new float[rows];
        for (int b = 0; b < rows; b++) keep[b] = mask == null ? 0f : 1f - mask[b];
        return keep;
    }

    /** Through zb = bias_scale·(α/σ²)·z: dγ += its share, dZ = d/dz. */
    private void zBiasBackward(Tensor dZb, double[] dGamma) {
        float[] zbFactor = zBiasFactors();
        double[] dzbDotZ = be.dotGroups(dZb, z, rows);
        for (int b = 0; b < rows; b++) {
            // d(α/σ²)/dγ = −α/2 − α·α²/σ²
            double a2 = alphaSquared(gamma[b]), s2 = sigmaSquared(gamma[b]), a = Math.sqrt(a2);
            dGamma[b] += biasScale * (-a / 2 - a * a2 / s2) * dzbDotZ[b];
        }
        be.scaleGroups(dZb, zbFactor, dZ);
    }
}

package plaid.model;

import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.model.head.HeadChunks;
import plaid.model.head.HeadGradients;
import plaid.model.head.HeadInputs;
import plaid.model.head.LogitSet;
import plaid.model.head.OutputHead;
import plaid.options.PlaidConfig;
import plaid.options.bow.DiffusionMode;

/**
 * Plaid's denoiser model(z, γ, Ê, bias_scale, x_sc, m, segments) → (logits, x̂), forward and backward
 * (plaid-reference §2): the {@link InputProjection} (steps 1–2), L {@link TransformerBlock}s (step 3) and
 * the {@link OutputHead} the diffusion mode builds (steps 4–6; the fork's heads, §7, in
 * {@link plaid.model.head}). One instance holds the activations of one batch shape; {@link #backward}
 * uses those of the latest {@link #forward}.
 */
public final class Denoiser {
    private final ComputeBackend be;
    private final DiffusionMode mode;
    private final int rows;
    private final int seqLen;
    private final InputProjection input;
    private final TransformerBlock[] blocks;
    private final OutputHead head;
    /** d/dh of the residual stream, from the head's input back to the first block's. */
    private final Tensor dh;
    /** d/dz: the head's zb path, then the input's share added. */
    private final Tensor dz;

    // inputs of the latest forward
    private HeadInputs inputs;
    private Segments segments;
    /** Whether the latest forward kept what {@link #backward} reads (the blocks' qkv, attention outputs and log-sum-exps, the MLPs' pre-activations). */
    private boolean keptForBackward;
    /** Whether the logit gradients were zeroed since the latest forward ({@link #zeroLogitGradients}). */
    private boolean logitGradientsZeroed;

    /** Told i after block i's backward, when that block's weight gradients of this pass are complete. */
    private java.util.function.IntConsumer afterBlockBackward = i -> {};

    /**
     * Calls {@code listener} with i after block i's backward (from the last block to the first):
     * data-parallel training starts reducing a bucket of gradients there, while the backward goes on.
     */
    public void onBlockBackward(java.util.function.IntConsumer listener) {
        this.afterBlockBackward = listener == null ? i -> {} : listener;
    }

    public Denoiser(PlaidConfig c, PlaidParameters params, int rows, int seqLen) {
        this(c, params, rows, seqLen, false);
    }

    /**
     * @param readSecondaryLogits with double_logit_reg, {@link #logits()} and {@link #probs()} hold the
     *                            secondary logits and {@link #secondaryLogits()} the primary ones (the
     *                            sampler's use_secondary_logits); refused for modes with one set of logits
     */
    public Denoiser(PlaidConfig c, PlaidParameters params, int rows, int seqLen, boolean readSecondaryLogits) {
        this(c, params, rows, seqLen, readSecondaryLogits, HeadChunks.OFF);
    }

    /**
     * @param chunks with chunks on, Plaid's head holds the logits of a chunk of token rows at a time: then
     *               {@link #logits()}, {@link #probs()} and {@link #logitGradient()} are refused, and the
     *               loss reads {@link #crossEntropy} and writes {@link #addCrossEntropyGradient}
     */
    public Denoiser(
            PlaidConfig c,
            PlaidParameters params,
            int rows,
            int seqLen,
            boolean readSecondaryLogits,
            HeadChunks chunks) {
        this(c, params, rows, seqLen, readSecondaryLogits, chunks, 0);
    }

    /**
     * @param recomputedBlocks how many blocks (0 to L) keep none of their activations for the backward, which
     *                         runs their forward again ({@link TrainingMemory#recomputedBlocks}); the
     *                         results do not depend on it
     */
    public Denoiser(
            PlaidConfig c,
            PlaidParameters params,
            int rows,
            int seqLen,
            boolean readSecondaryLogits,
            HeadChunks chunks,
            int recomputedBlocks) {
        if (recomputedBlocks < 0 || recomputedBlocks > c.nBlocks)
            throw new IllegalArgumentException(TrainingMemory.RECOMPUTED_BLOCKS_PROPERTY + ": " + recomputedBlocks
                    + " blocks to recompute, outside [0, " + c.nBlocks + "] (the model's blocks)");
        this.be = params.backend();
        this.mode = c.diffusionMode();
        this.rows = rows;
        this.seqLen = seqLen;
        int tokens = rows * seqLen, d = c.dim;
        // the residual stream between the parts: stream[i] is block i's input, stream[L] the head's
        Tensor[] stream = new Tensor[c.nBlocks + 1];
        for (int i = 0; i < stream.length; i++) stream[i] = be.allocate(tokens, d);
        this.input = new InputProjection(c, params, rows, seqLen, stream[0]);
        TransformerBlock.Workspace workspace = TransformerBlock.Workspace.allocate(be, tokens, d);
        // The first k blocks share one set of activations and recompute it in their backward: any k blocks
        // save as much, and the last ones, which the backward reaches first, then start it (and a
        // data-parallel step's first gradient buckets) with no forward to run again.
        TransformerBlock.Activations shared =
                recomputedBlocks > 0 ? TransformerBlock.Activations.allocate(be, c, rows, seqLen) : null;
        this.blocks = new TransformerBlock[c.nBlocks];
        for (int i = 0; i < blocks.length; i++) {
            boolean recomputes = i < recomputedBlocks;
            TransformerBlock.Activations kept =
                    recomputes ? shared : TransformerBlock.Activations.allocate(be, c, rows, seqLen);
            blocks[i] = new TransformerBlock(
                    c, params, i, rows, seqLen, stream[i], stream[i + 1], workspace, kept, recomputes);
        }
        this.head = OutputHead.forMode(c, params, rows, seqLen, readSecondaryLogits, chunks, stream[c.nBlocks]);
        this.dh = be.allocate(tokens, d);
        this.dz = be.allocate(tokens, c.embedDim);
    }

    public int rows() {
        return rows;
    }

    public int seqLen() {
        return seqLen;
    }

    /**
     * d/dlogits [rows·S, V] for {@link #backward}: zero after each forward, the caller adds
     * the loss's or the guidance's gradient here.
     */
    public Tensor logitGradient() {
        zeroLogitGradients();
        return head.logits().gradient();
    }

    /**
     * Zeroes the logit gradients once per forward, when first asked for: a forward with no backward
     * after it (unguided sampling) never writes the [rows·S, V] tensors.
     */
    private void zeroLogitGradients() {
        if (logitGradientsZeroed || !head.keepsLogits()) return;
        be.fill(head.logits().gradient(), 0f);
        if (head.otherLogits() != null) be.fill(head.otherLogits().gradient(), 0f);
        logitGradientsZeroed = true;
    }

    /**
     * The cross-entropy −log softmax(logits)[target] of the first {@code targets.length} token rows of
     * the latest forward's {@link #logits()} ({@code secondary}: of {@link #secondaryLogits()}).
     */
    public double[] crossEntropy(int[] targets, boolean secondary) {
        return head.crossEntropy(be, targets, secondary);
    }

    /**
     * Adds {@code factor}·d(cross-entropy)/dlogits, (softmax − onehot(targets))·factor, on the first
     * {@code targets.length} token rows to what {@link #backward} propagates from the logits
     * ({@code secondary}: from the secondary ones).
     */
    public void addCrossEntropyGradient(int[] targets, float factor, boolean secondary) {
        zeroLogitGradients();
        head.addCrossEntropyGradient(be, targets, factor, secondary);
    }

    /** Logits [rows·S, V] of the latest forward: the primary ones, or the secondary when built to read those. */
    public Tensor logits() {
        return head.logits().logits();
    }

    /** softmax(logits) [rows·S, V] of the latest forward. */
    public Tensor probs() {
        return head.logits().probs();
    }

    /** Whether the head gives a second set of logits (double_logit_reg). */
    public boolean hasSecondaryLogits() {
        return head.otherLogits() != null;
    }

    /** The other set of logits [rows·S, V] of double_logit_reg (the secondary ones, unless built to read those). */
    public Tensor secondaryLogits() {
        return otherLogits().logits();
    }

    /** softmax of {@link #secondaryLogits()}. */
    public Tensor secondaryProbs() {
        return otherLogits().probs();
    }

    /** d/d{@link #secondaryLogits()}, zero after each forward like {@link #logitGradient()}. */
    public Tensor secondaryLogitGradient() {
        LogitSet other = otherLogits();
        zeroLogitGradients();
        return other.gradient();
    }

    private LogitSet otherLogits() {
        LogitSet other = head.otherLogits();
        if (other == null) throw new IllegalStateException("diffusion_mode " + mode + " has no secondary logits");
        return other;
    }

    /** x̂ = softmax(logits)·Ê [rows·S, E] of the latest forward; with reconst_first the bow-space x̂ of its head. */
    public Tensor xReconst() {
        return head.xReconst();
    }

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
    public void forward(
            Tensor z,
            double[] gamma,
            Tensor embedding,
            double biasScale,
            Tensor xSelfcond,
            float[] mask,
            Segments segments) {
        forward(z, gamma, embedding, biasScale, xSelfcond, mask, segments, true);
    }

    /**
     * {@link #forward(Tensor, double[], Tensor, double, Tensor, float[], Segments)}, keeping what the
     * backward reads only when {@code forBackward}: a forward nothing backpropagates through (unguided
     * sampling, the self-conditioning pass, evaluation) lets the backend keep the blocks' activations at
     * its GEMM operand precision and skip the fp32 copies only the backward reads.
     */
    public void forward(
            Tensor z,
            double[] gamma,
            Tensor embedding,
            double biasScale,
            Tensor xSelfcond,
            float[] mask,
            Segments segments,
            boolean forBackward) {
        if (gamma.length != rows || segments.rows() != rows || segments.seqLen() != seqLen) {
            throw new IllegalArgumentException("denoiser built for " + rows + "×" + seqLen + " got γ for "
                    + gamma.length + " rows, segments " + segments.rows() + "×" + segments.seqLen());
        }
        this.inputs = new HeadInputs(z, gamma.clone(), embedding, (float) biasScale, mask);
        this.segments = segments;
        this.keptForBackward = forBackward;
        input.forward(z, inputs.gamma(), xSelfcond);
        for (TransformerBlock block : blocks) block.forward(segments, forBackward);
        head.forward(inputs);
        logitGradientsZeroed = false;
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
        if (!keptForBackward)
            throw new IllegalStateException(
                    "the latest forward was run without keeping what the backward reads (forBackward false)");
        double[] dGamma = new double[rows];
        zeroLogitGradients(); // a caller that wrote no logit gradient backpropagates zeros there
        head.backward(inputs, new HeadGradients(dXReconst, dEmbedding, parameterGradients, dh, dz, dGamma));
        for (int i = blocks.length - 1; i >= 0; i--) {
            blocks[i].backward(dh, segments, parameterGradients);
            afterBlockBackward.accept(i);
        }
        input.backward(dh, inputs.z(), inputs.gamma(), dz, dGamma, parameterGradients);
        return new InputGradients(dz, dGamma);
    }
}

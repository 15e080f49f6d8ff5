package plaid.model.head;

import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;
import plaid.options.bow.DiffusionMode;

/**
 * The denoiser's output head: from the blocks' output h to the logits and x̂ (plaid-reference §2 steps
 * 4–6, and the fork's heads of §7), forward and backward. One implementation per head the diffusion mode
 * builds: Plaid's ({@code token}, {@code BoW_embedding}), {@code reconst_first}'s and
 * {@code double_logit_reg}'s. A head holds the activations of the latest {@link #forward}, which its
 * {@link #backward} reads.
 */
public sealed interface OutputHead permits PlaidHead, ChunkedPlaidHead, ReconstFirstHead, DoubleLogitHead {

    /**
     * The head {@code params}' diffusion mode builds.
     *
     * @param h                   the blocks' output [rows·S, D], which the head reads in its forward and backward
     * @param readSecondaryLogits with double_logit_reg, {@link #logits()} is the secondary set; refused for
     *                            modes with one set of logits
     */
    static OutputHead forMode(
            PlaidConfig config, PlaidParameters params, int rows, int seqLen, boolean readSecondaryLogits, Tensor h) {
        return forMode(config, params, rows, seqLen, readSecondaryLogits, HeadChunks.OFF, h);
    }

    /**
     * As {@link #forMode(PlaidConfig, PlaidParameters, int, int, boolean, Tensor)}; with {@code chunks} on,
     * Plaid's own head is built chunked ({@link ChunkedPlaidHead}); the fork's heads are always built whole.
     */
    static OutputHead forMode(
            PlaidConfig config,
            PlaidParameters params,
            int rows,
            int seqLen,
            boolean readSecondaryLogits,
            HeadChunks chunks,
            Tensor h) {
        DiffusionMode mode = config.diffusionMode();
        boolean doubleLogits = mode.contains(DiffusionMode.Word.DOUBLE_LOGIT_REG);
        if (readSecondaryLogits && !doubleLogits) {
            throw new IllegalArgumentException(
                    "use_secondary_logits needs diffusion_mode double_logit_reg; " + mode + " has one set of logits");
        }
        if (doubleLogits) return new DoubleLogitHead(config, params, rows, seqLen, readSecondaryLogits, h);
        if (mode.contains(DiffusionMode.Word.RECONST_FIRST))
            return new ReconstFirstHead(config, params, rows, seqLen, h);
        return chunks.on() ? new ChunkedPlaidHead(config, params, h, chunks.rows()) : new PlaidHead(config, params, h);
    }

    /** The logits the caller reads: the primary set, or the secondary one when built to read those. */
    LogitSet logits();

    /**
     * −log softmax(logits)[target] of the first {@code targets.length} token rows of the read logits
     * ({@code secondary}: of {@link #otherLogits()}) of the latest forward.
     */
    default double[] crossEntropy(ComputeBackend be, int[] targets, boolean secondary) {
        Tensor l = logitSet(secondary).logits();
        return be.crossEntropy(l.view(0, targets.length, l.shape()[1]), targets);
    }

    /**
     * d/dlogits += factor·(softmax − onehot(targets)) on the first {@code targets.length} token rows of
     * the read logits ({@code secondary}: the other set), for the next {@link #backward}.
     */
    default void addCrossEntropyGradient(ComputeBackend be, int[] targets, float factor, boolean secondary) {
        LogitSet set = logitSet(secondary);
        int n = targets.length, v = set.logits().shape()[1];
        be.crossEntropyBackward(
                set.probs().view(0, n, v),
                targets,
                new float[] {factor},
                set.gradient().view(0, n, v));
    }

    /** Whether the head keeps whole [rows·S, V] logit sets ({@link #logits()}); the chunked head does not. */
    default boolean keepsLogits() {
        return true;
    }

    /** The read logits, or with {@code secondary} the other set. */
    private LogitSet logitSet(boolean secondary) {
        if (!secondary) return logits();
        if (otherLogits() == null) throw new IllegalStateException("this head has no secondary logits");
        return otherLogits();
    }

    /** double_logit_reg's other set of logits; null for the heads with one. */
    default LogitSet otherLogits() {
        return null;
    }

    /** x̂ [rows·S, E] of the latest forward: softmax(logits)·Ê, or the bow-space x̂ of the fork's heads. */
    Tensor xReconst();

    /** Logits, their softmax and x̂ from h and {@code in}. */
    void forward(HeadInputs in);

    /**
     * Backpropagates the logit gradients the caller wrote and {@code dXReconst} (may be null) through the
     * latest forward, whose inputs {@code in} are: writes d/dh into {@code dh} and the zb path's d/dz into
     * {@code dz}, adds to {@code dGamma} and {@code dEmbedding} (rows with m = 1 send none there), and with
     * {@code parameterGradients} accumulates the head's parameter gradients.
     */
    void backward(
            HeadInputs in,
            Tensor dXReconst,
            Tensor dEmbedding,
            boolean parameterGradients,
            Tensor dh,
            Tensor dz,
            double[] dGamma);
}

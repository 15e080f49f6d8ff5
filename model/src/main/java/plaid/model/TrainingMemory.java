package plaid.model;

import plaid.backend.ComputeBackend;
import plaid.model.head.HeadChunks;
import plaid.options.PlaidConfig;

/**
 * How the training objective ({@link DiffusionObjective}) holds what grows with the batch, trading
 * memory for a little time; the results do not depend on it (issue 17: the small model at batch 256
 * needed 57 GiB).
 *
 * @param headChunks          the output head's chunks of token rows ({@link HeadChunks}): at most
 *                            chunk × V logits at once instead of rows·S × V
 * @param selfcondRowsPerPass the most rows one self-conditioning pass runs (0: all at once): a row's x̂
 *                            does not depend on the other rows', and the pass's denoiser holds
 *                            activations for the rows of one pass
 * @param recomputedBlocks    how many of the L blocks keep no activations for the backward (0: all keep
 *                            theirs): they share one set, and their backward runs their forward again
 *                            first, one block forward each (about a third of its backward's work)
 */
public record TrainingMemory(HeadChunks headChunks, int selfcondRowsPerPass, int recomputedBlocks) {
    /** Everything at once, as before issue 17: whole logits, one self-conditioning pass, no recomputed block. */
    public static final TrainingMemory WHOLE = new TrainingMemory(HeadChunks.OFF, 0, 0);

    /** The system property of {@link #selfcondRowsPerPass} (default {@value #DEFAULT_SELFCOND_ROWS}). */
    public static final String SELFCOND_ROWS_PROPERTY = "plaid.selfcond.rowsPerPass";

    /**
     * The system property of {@link #recomputedBlocks}: a number of blocks, or {@code auto} (the default),
     * as few as keep the blocks' kept activations within {@value #AUTO_ACTIVATION_SHARE_PERCENT}% of the
     * device's memory ({@link #forDeviceMemory}).
     */
    public static final String RECOMPUTED_BLOCKS_PROPERTY = "plaid.recompute.blocks";

    private static final int DEFAULT_SELFCOND_ROWS = 16;
    /** The share of a card's memory {@code auto} lets the kept activations take; the rest is the head, the
     * residual stream, the weights and optimiser state, the self-conditioning pass and scratch. */
    private static final int AUTO_ACTIVATION_SHARE_PERCENT = 50;

    public TrainingMemory {
        if (selfcondRowsPerPass < 0)
            throw new IllegalArgumentException(
                    SELFCOND_ROWS_PROPERTY + ": rows per pass " + selfcondRowsPerPass + " is negative");
        if (recomputedBlocks < 0)
            throw new IllegalArgumentException(
                    RECOMPUTED_BLOCKS_PROPERTY + ": " + recomputedBlocks + " blocks to recompute is negative");
    }

    /** No block recomputed. */
    public TrainingMemory(HeadChunks headChunks, int selfcondRowsPerPass) {
        this(headChunks, selfcondRowsPerPass, 0);
    }

    /** This plan with {@code blocks} blocks recomputed. */
    public TrainingMemory withRecomputedBlocks(int blocks) {
        return new TrainingMemory(headChunks, selfcondRowsPerPass, blocks);
    }

    /**
     * From {@code -Dplaid.head.chunkRows} (default auto), {@code -Dplaid.selfcond.rowsPerPass} (default 16)
     * and {@code -Dplaid.recompute.blocks} (default auto) for training {@code c} on {@code be}.
     */
    public static TrainingMemory fromSystemProperties(ComputeBackend be, PlaidConfig c) {
        String rows = System.getProperty(SELFCOND_ROWS_PROPERTY, Integer.toString(DEFAULT_SELFCOND_ROWS));
        int selfcondRows;
        try {
            selfcondRows = Integer.parseInt(rows.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    SELFCOND_ROWS_PROPERTY + ": expected a number of rows (0: all at once), got '" + rows + "'");
        }
        return new TrainingMemory(
                HeadChunks.fromSystemProperty(be, c.vocabSize),
                selfcondRows,
                recomputedBlocks(System.getProperty(RECOMPUTED_BLOCKS_PROPERTY, "auto"), be, c));
    }

    /** {@code auto} or a number of blocks from 0 to L, as {@value #RECOMPUTED_BLOCKS_PROPERTY} takes them. */
    public static int recomputedBlocks(String value, ComputeBackend be, PlaidConfig c) {
        String v = value.trim();
        if (v.equals("auto")) {
            return autoRecomputedBlocks(be, c, (long) c.batchSize * c.seqLen);
        }
        int blocks;
        try {
            blocks = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    RECOMPUTED_BLOCKS_PROPERTY + ": expected auto or a number of blocks, got '" + value + "'");
        }
        if (blocks < 0 || blocks > c.nBlocks)
            throw new IllegalArgumentException(RECOMPUTED_BLOCKS_PROPERTY + ": " + blocks
                    + " blocks to recompute, outside [0, " + c.nBlocks + "] (the model's blocks)");
        return blocks;
    }

    /**
     * The fewest blocks to recompute so that the activations the blocks keep for a batch of {@code c}'s
     * batch_size × seq_len tokens (a set per keeping block, one shared by the recomputing ones) take at most
     * {@value #AUTO_ACTIVATION_SHARE_PERCENT}% of {@code deviceBytes}; all L when even that does not fit.
     * Not a bound on the step's peak, only on its largest part; nothing on a card large enough.
     */
    static int forDeviceMemory(long deviceBytes, PlaidConfig c) {
        return forDeviceMemory(deviceBytes, c, (long) c.batchSize * c.seqLen);
    }

    /**
     * The rule of {@code auto} for a denoiser of {@code tokens} token rows on {@code be}: 0 where the backend
     * has no device memory of its own. The sampler's denoisers use it too: they keep the activations for the
     * guidance backward, 71 GiB for 32 rows of the 1B shape at seq_len 1024, more than an 80 GiB card holds
     * beside the weights and logits.
     */
    public static int autoRecomputedBlocks(ComputeBackend be, PlaidConfig c, long tokens) {
        java.util.OptionalLong device = be.deviceMemoryBytes();
        return device.isPresent() ? forDeviceMemory(device.getAsLong(), c, tokens) : 0;
    }

    static int forDeviceMemory(long deviceBytes, PlaidConfig c, long tokens) {
        long perBlock = TransformerBlock.Activations.bytes(c, tokens);
        long budget = deviceBytes / 100 * AUTO_ACTIVATION_SHARE_PERCENT;
        for (int k = 0; k < c.nBlocks; k++) {
            int sets = c.nBlocks - k + (k > 0 ? 1 : 0);
            if (sets * perBlock <= budget) return k;
        }
        return c.nBlocks;
    }
}

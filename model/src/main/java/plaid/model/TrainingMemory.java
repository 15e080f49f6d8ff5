package plaid.model;

import plaid.backend.ComputeBackend;
import plaid.model.head.HeadChunks;

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
 */
public record TrainingMemory(HeadChunks headChunks, int selfcondRowsPerPass) {
    /** Everything at once, as before issue 17: whole logits, one self-conditioning pass. */
    public static final TrainingMemory WHOLE = new TrainingMemory(HeadChunks.OFF, 0);

    /** The system property of {@link #selfcondRowsPerPass} (default {@value #DEFAULT_SELFCOND_ROWS}). */
    public static final String SELFCOND_ROWS_PROPERTY = "plaid.selfcond.rowsPerPass";

    private static final int DEFAULT_SELFCOND_ROWS = 16;

    public TrainingMemory {
        if (selfcondRowsPerPass < 0)
            throw new IllegalArgumentException(
                    SELFCOND_ROWS_PROPERTY + ": rows per pass " + selfcondRowsPerPass + " is negative");
    }

    /** From {@code -Dplaid.head.chunkRows} (default auto) and {@code -Dplaid.selfcond.rowsPerPass} (default 16). */
    public static TrainingMemory fromSystemProperties(ComputeBackend be, int vocabSize) {
        String rows = System.getProperty(SELFCOND_ROWS_PROPERTY, Integer.toString(DEFAULT_SELFCOND_ROWS));
        int selfcondRows;
        try {
            selfcondRows = Integer.parseInt(rows.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    SELFCOND_ROWS_PROPERTY + ": expected a number of rows (0: all at once), got '" + rows + "'");
        }
        return new TrainingMemory(HeadChunks.fromSystemProperty(be, vocabSize), selfcondRows);
    }
}

package plaid.model.head;

import plaid.backend.ComputeBackend;

/**
 * How many token rows of logits the output head holds at once: {@link #OFF} keeps the whole [rows·S, V]
 * logits, their softmax and gradient (what sampling and guidance read); {@code rows > 0} builds
 * {@link ChunkedPlaidHead}, which holds 3 × rows × V floats and recomputes a chunk's logits when it needs
 * them again (training and evaluation, which read only the cross-entropy and x̂).
 *
 * <p>Chunk sizes that are multiples of {@value #ROW_UNIT} rows keep the CPU reference's sums in the same
 * order as the unchunked head's (its GEMM accumulates the inner dimension in blocks of 256).
 */
public record HeadChunks(int rows) {
    /** The system property: {@code off}, a row count, or {@code auto} (the default: sized by the device's memory). */
    public static final String PROPERTY = "plaid.head.chunkRows";

    public static final HeadChunks OFF = new HeadChunks(0);

    /** Chunks are rounded down to this many rows (and hold at least one such unit). */
    static final int ROW_UNIT = 256;
    /** The share of a CUDA card's memory the three chunk buffers of one head may take. */
    private static final int CARD_MEMORY_SHARE = 64;
    /**
     * The chunk buffers' budget on the CPU, and the most on any card: 1280 rows at V = 32768, whose
     * [1280, 32768] × [32768, 384] products already fill the card; the self-conditioning pass's head holds
     * its own.
     */
    private static final long MAX_BUDGET_BYTES = 1L << 29;

    public HeadChunks {
        if (rows < 0) throw new IllegalArgumentException(PROPERTY + ": rows per chunk " + rows + " is negative");
    }

    public boolean on() {
        return rows > 0;
    }

    /** The chunking {@code -Dplaid.head.chunkRows} asks for on {@code be} with this vocabulary. */
    public static HeadChunks fromSystemProperty(ComputeBackend be, int vocabSize) {
        return parse(System.getProperty(PROPERTY, "auto"), be, vocabSize);
    }

    /** {@code off} (or 0), {@code auto}, or a row count, as the property takes them. */
    public static HeadChunks parse(String value, ComputeBackend be, int vocabSize) {
        String v = value.trim();
        if (v.equals("off") || v.equals("0")) return OFF;
        if (v.equals("auto")) return forBudget(budgetBytes(be), vocabSize);
        try {
            return new HeadChunks(Integer.parseInt(v));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    PROPERTY + ": expected off, auto or a number of rows per chunk, got '" + value + "'");
        }
    }

    /** Rows whose three fp32 [rows, V] buffers fit {@code budgetBytes}, in whole units of {@value #ROW_UNIT}. */
    public static HeadChunks forBudget(long budgetBytes, int vocabSize) {
        long rows = budgetBytes / (3L * Float.BYTES * vocabSize) / ROW_UNIT * ROW_UNIT;
        return new HeadChunks((int) Math.clamp(rows, ROW_UNIT, 1 << 20));
    }

    /** A 1/{@value #CARD_MEMORY_SHARE} share of a CUDA card's memory, capped; the cap on the CPU. */
    static long budgetBytes(ComputeBackend be) {
        return be.deviceMemoryBytes().stream()
                .map(bytes -> Math.min(MAX_BUDGET_BYTES, bytes / CARD_MEMORY_SHARE))
                .findFirst()
                .orElse(MAX_BUDGET_BYTES);
    }
}

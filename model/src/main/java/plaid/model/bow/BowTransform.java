package plaid.model.bow;

import java.util.Arrays;

/**
 * The bag-of-words transform of the fork's BoW modes (plaid-reference §7) and its inverse,
 * with the backward of both, on host arrays laid out [rows, S, channels].
 *
 * <p>bow(x)_n = Σ_{s≤n} ρ^(n−s) x_s along the sequence, per row and channel; the inverse is
 * x_n = bow_n − ρ·bow_{n−1}. ρ = 0 makes both the identity, ρ = 1 is a plain cumulative sum.
 *
 * <p>The sum runs over the whole row and does not restart at attention segments: the fork
 * computes it with an [S, S] lower-triangular matrix over the full sequence axis and never
 * looks at {@code cu_seqlens}, so the first position of a split segment still carries the
 * decayed tail of the segment before it. We keep that so checkpoints trained there mean
 * the same here.
 *
 * <p>Sums accumulate in double: the fork converts x̂ to bow space in float64 too, and the
 * recurrence's rounding error would otherwise grow along the sequence when ρ is near 1.
 */
public final class BowTransform {
    private final double decay;

    /** @param decay ρ, the fork's {@code BoW_cumsum_gamma}, in [0, 1] */
    public BowTransform(double decay) {
        if (!(decay >= 0 && decay <= 1)) {
            throw new IllegalArgumentException("BoW_cumsum_gamma must be in [0, 1], got " + decay);
        }
        this.decay = decay;
    }

    public double decay() {
        return decay;
    }

    /** bow(x): the decayed cumulative sum forward in time. */
    public float[] toBow(float[] x, int rows, int seqLen, int channels) {
        checkShape(x, rows, seqLen, channels);
        return decayedCumsum(x, rows, seqLen, channels, false);
    }

    /** x from bow(x): the first difference with the previous position scaled by ρ. */
    public float[] fromBow(float[] bow, int rows, int seqLen, int channels) {
        checkShape(bow, rows, seqLen, channels);
        return decayedDifference(bow, rows, seqLen, channels, false);
    }

    /**
     * d/dx given d/dbow: the transpose of {@link #toBow}, dx_s = Σ_{n≥s} ρ^(n−s) dbow_n, a
     * decayed cumulative sum backward in time.
     */
    public float[] toBowBackward(float[] dBow, int rows, int seqLen, int channels) {
        checkShape(dBow, rows, seqLen, channels);
        return decayedCumsum(dBow, rows, seqLen, channels, true);
    }

    /** d/dbow given d/dx: the transpose of {@link #fromBow}, dbow_n = dx_n − ρ·dx_{n+1}. */
    public float[] fromBowBackward(float[] dx, int rows, int seqLen, int channels) {
        checkShape(dx, rows, seqLen, channels);
        return decayedDifference(dx, rows, seqLen, channels, true);
    }

    private float[] decayedCumsum(float[] in, int rows, int seqLen, int channels, boolean reverseTime) {
        float[] out = new float[in.length];
        double[] running = new double[channels];
        for (int r = 0; r < rows; r++) {
            Arrays.fill(running, 0.0);
            for (int step = 0; step < seqLen; step++) {
                int base = (r * seqLen + (reverseTime ? seqLen - 1 - step : step)) * channels;
                for (int c = 0; c < channels; c++) {
                    running[c] = decay * running[c] + in[base + c];
                    out[base + c] = (float) running[c];
                }
            }
        }
        return out;
    }

    /** out_n = in_n − ρ·in_{n−1} (or in_{n+1} when {@code reverseTime}), zero beyond the row's ends. */
    private float[] decayedDifference(float[] in, int rows, int seqLen, int channels, boolean reverseTime) {
        float[] out = new float[in.length];
        int neighbour = reverseTime ? 1 : -1;
        for (int r = 0; r < rows; r++) {
            for (int n = 0; n < seqLen; n++) {
                int base = (r * seqLen + n) * channels;
                boolean hasNeighbour = n + neighbour >= 0 && n + neighbour < seqLen;
                int other = base + neighbour * channels;
                for (int c = 0; c < channels; c++) {
                    double previous = hasNeighbour ? in[other + c] : 0.0;
                    out[base + c] = (float) (in[base + c] - decay * previous);
                }
            }
        }
        return out;
    }

    static void checkShape(float[] values, int rows, int seqLen, int channels) {
        if (rows < 0 || seqLen < 0 || channels < 0 || (long) rows * seqLen * channels != values.length) {
            throw new IllegalArgumentException("expected [" + rows + ", " + seqLen + ", " + channels + "] = "
                    + (long) rows * seqLen * channels + " values, got " + values.length);
        }
    }
}

package plaid.options.bow;

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
 * <p>In the BoW modes without the {@code no_rescale} word the transform is scaled by s = 1 − ρ
 * ({@link #forMode}): bow is then a decayed running mean, which keeps a run of one repeated
 * embedding at its unit norm, as the fork's own note on normalising the cumsum input
 * ("mult by (1 − r)") has it. That is our reading: the fork's train.py, which reads
 * {@code no_rescale}, is not public. The inverse divides by s.
 *
 * <p>Sums accumulate in double: the fork converts x̂ to bow space in float64 too, and the
 * recurrence's rounding error would otherwise grow along the sequence when ρ is near 1.
 */
public final class BowTransform {
    private final double decay;
    private final double scale;

    /**
     * The unscaled transform.
     *
     * @param decay ρ, the fork's {@code BoW_cumsum_gamma}, in [0, 1]
     */
    public BowTransform(double decay) {
        this(decay, 1.0);
    }

    /** s·bow(x) with s = {@code scale} > 0. */
    public BowTransform(double decay, double scale) {
        if (!(decay >= 0 && decay <= 1)) {
            throw new IllegalArgumentException("BoW_cumsum_gamma must be in [0, 1], got " + decay);
        }
        if (!(scale > 0 && Double.isFinite(scale)))
            throw new IllegalArgumentException("bow scale must be positive, got " + scale);
        this.decay = decay;
        this.scale = scale;
    }

    /** The transform of {@code mode}: scaled by 1 − ρ unless the mode has {@code no_rescale}. */
    public static BowTransform forMode(DiffusionMode mode, double decay) {
        if (mode.contains(DiffusionMode.Word.NO_RESCALE)) return new BowTransform(decay);
        if (decay == 1.0) {
            throw new IllegalArgumentException(
                    "BoW_cumsum_gamma 1 rescales bow by 1 − ρ = 0; add the no_rescale word for a plain cumulative sum");
        }
        return new BowTransform(decay, 1.0 - decay);
    }

    public double decay() {
        return decay;
    }

    public double scale() {
        return scale;
    }

    /** bow(x): the decayed cumulative sum forward in time. */
    public float[] toBow(float[] x, int rows, int seqLen, int channels) {
        checkShape(x, rows, seqLen, channels);
        return decayedCumsum(x, rows, seqLen, channels, false, scale);
    }

    /** x from bow(x): the first difference with the previous position scaled by ρ. */
    public float[] fromBow(float[] bow, int rows, int seqLen, int channels) {
        checkShape(bow, rows, seqLen, channels);
        return decayedDifference(bow, rows, seqLen, channels, false, 1.0 / scale);
    }

    /**
     * d/dx given d/dbow: the transpose of {@link #toBow}, dx_s = Σ_{n≥s} ρ^(n−s) dbow_n, a
     * decayed cumulative sum backward in time.
     */
    public float[] toBowBackward(float[] dBow, int rows, int seqLen, int channels) {
        checkShape(dBow, rows, seqLen, channels);
        return decayedCumsum(dBow, rows, seqLen, channels, true, scale);
    }

    /** d/dbow given d/dx: the transpose of {@link #fromBow}, dbow_n = dx_n − ρ·dx_{n+1}. */
    public float[] fromBowBackward(float[] dx, int rows, int seqLen, int channels) {
        checkShape(dx, rows, seqLen, channels);
        return decayedDifference(dx, rows, seqLen, channels, true, 1.0 / scale);
    }

    /** factor × the decayed running sum of {@code in}. */
    private float[] decayedCumsum(float[] in, int rows, int seqLen, int channels, boolean reverseTime, double factor) {
        float[] out = new float[in.length];
        double[] running = new double[channels];
        for (int r = 0; r < rows; r++) {
            Arrays.fill(running, 0.0);
            for (int step = 0; step < seqLen; step++) {
                int base = (r * seqLen + (reverseTime ? seqLen - 1 - step : step)) * channels;
                for (int c = 0; c < channels; c++) {
                    running[c] = decay * running[c] + in[base + c];
                    out[base + c] = (float) (factor * running[c]);
                }
            }
        }
        return out;
    }

    /** out_n = factor·(in_n − ρ·in_{n−1}) (or in_{n+1} when {@code reverseTime}), zero beyond the row's ends. */
    private float[] decayedDifference(
            float[] in, int rows, int seqLen, int channels, boolean reverseTime, double factor) {
        float[] out = new float[in.length];
        int neighbour = reverseTime ? 1 : -1;
        for (int r = 0; r < rows; r++) {
            for (int n = 0; n < seqLen; n++) {
                int base = (r * seqLen + n) * channels;
                boolean hasNeighbour = n + neighbour >= 0 && n + neighbour < seqLen;
                int other = base + neighbour * channels;
                for (int c = 0; c < channels; c++) {
                    double previous = hasNeighbour ? in[other + c] : 0.0;
                    out[base + c] = (float) (factor * (in[base + c] - decay * previous));
                }
            }
        }
        return out;
    }

    public static void checkShape(float[] values, int rows, int seqLen, int channels) {
        if (rows < 0 || seqLen < 0 || channels < 0 || (long) rows * seqLen * channels != values.length) {
            throw new IllegalArgumentException("expected [" + rows + ", " + seqLen + ", " + channels + "] = "
                    + (long) rows * seqLen * channels + " values, got " + values.length);
        }
    }
}

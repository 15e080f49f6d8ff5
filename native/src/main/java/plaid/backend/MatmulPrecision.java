package plaid.backend;

import java.util.function.Supplier;

/**
 * TF32 matrix products for the calling thread: GEMMs and attention's QKᵀ and PV with their operands
 * rounded to TF32 (10 mantissa bits, round to nearest even, as cuBLAS rounds on Hopper) and float32
 * accumulation. This is what {@code torch.backends.cuda.matmul.allow_tf32 = True} gives the original's
 * sample.py, which sets it before generating; the parity fixtures of the model itself were made in plain
 * float32, so everything else runs without it. Per thread, so a sampler and a scorer sharing a backend
 * do not change each other's arithmetic. The CUDA backend runs such GEMMs with cuBLAS's TF32 compute
 * and keeps its attention kernels; the CPU backend emulates both.
 */
public final class MatmulPrecision {
    private static final ThreadLocal<Boolean> TF32 = ThreadLocal.withInitial(() -> false);

    private MatmulPrecision() {}

    /** Runs {@code body} with TF32 matrix products on this thread, restoring the setting afterwards. */
    public static <T> T withTf32(Supplier<T> body) {
        boolean before = TF32.get();
        TF32.set(true);
        try {
            return body.get();
        } finally {
            TF32.set(before);
        }
    }

    /** Whether matrix products on this thread are TF32. */
    public static boolean tf32() {
        return TF32.get();
    }

    /** x rounded to TF32 (kept in a float): round to nearest even at mantissa bit 13; NaN and ±∞ unchanged. */
    public static float roundToTf32(float x) {
        int bits = Float.floatToRawIntBits(x);
        if ((bits & 0x7f800000) == 0x7f800000) return x;
        return Float.intBitsToFloat((bits + 0xFFF + ((bits >>> 13) & 1)) & ~0x1FFF);
    }

    /** A rounded copy of {@code n} values from {@code offset}. */
    public static float[] roundedCopy(float[] values, int offset, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) out[i] = roundToTf32(values[offset + i]);
        return out;
    }
}

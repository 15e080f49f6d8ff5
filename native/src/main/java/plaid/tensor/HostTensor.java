package plaid.tensor;

import java.util.Arrays;

/**
 * A tensor in host memory with its declared element type: what checkpoints and fixtures
 * hold. Floating-point values are kept as doubles (exact for f64, f32, bf16 and f16),
 * integers as longs, so no reader loses precision; callers convert to the working type.
 */
public final class HostTensor {
    private final DType dtype;
    private final int[] shape;
    private final double[] floats;
    private final long[] ints;

    private HostTensor(DType dtype, int[] shape, double[] floats, long[] ints) {
        this.dtype = dtype;
        this.shape = shape.clone();
        this.floats = floats;
        this.ints = ints;
        long n = numel(shape);
        long have = floats != null ? floats.length : ints.length;
        if (n != have) {
            throw new IllegalArgumentException(
                    "shape " + Arrays.toString(shape) + " needs " + n + " values, got " + have);
        }
    }

    public static HostTensor ofDoubles(DType dtype, int[] shape, double[] values) {
        if (!dtype.isFloatingPoint()) throw new IllegalArgumentException(dtype + " is not a floating-point type");
        return new HostTensor(dtype, shape, values, null);
    }

    public static HostTensor ofFloats(int[] shape, float[] values) {
        double[] d = new double[values.length];
        for (int i = 0; i < d.length; i++) d[i] = values[i];
        return new HostTensor(DType.F32, shape, d, null);
    }

    public static HostTensor ofLongs(DType dtype, int[] shape, long[] values) {
        if (dtype.isFloatingPoint()) throw new IllegalArgumentException(dtype + " is not an integer type");
        return new HostTensor(dtype, shape, null, values);
    }

    public static long numel(int[] shape) {
        long n = 1;
        for (int s : shape) n *= s;
        return n;
    }

    public DType dtype() {
        return dtype;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public int dim(int i) {
        return shape[i];
    }

    public int numel() {
        return floats != null ? floats.length : ints.length;
    }

    public float[] toFloats() {
        float[] out = new float[numel()];
        if (floats != null) for (int i = 0; i < out.length; i++) out[i] = (float) floats[i];
        else for (int i = 0; i < out.length; i++) out[i] = ints[i];
        return out;
    }

    public double[] toDoubles() {
        if (floats != null) return floats.clone();
        double[] out = new double[ints.length];
        for (int i = 0; i < out.length; i++) out[i] = ints[i];
        return out;
    }

    public long[] toLongs() {
        if (ints != null) return ints.clone();
        long[] out = new long[floats.length];
        for (int i = 0; i < out.length; i++) {
            if (floats[i] != Math.rint(floats[i]))
                throw new IllegalStateException("value " + floats[i] + " is not an integer");
            out[i] = (long) floats[i];
        }
        return out;
    }

    public int[] toInts() {
        long[] l = toLongs();
        int[] out = new int[l.length];
        for (int i = 0; i < l.length; i++) out[i] = Math.toIntExact(l[i]);
        return out;
    }

    /** The single value of a 0-d or one-element tensor. */
    public double scalar() {
        if (numel() != 1) throw new IllegalStateException("not a scalar: shape " + Arrays.toString(shape));
        return floats != null ? floats[0] : ints[0];
    }

    @Override
    public String toString() {
        return "HostTensor[" + dtype + " " + Arrays.toString(shape) + "]";
    }
}

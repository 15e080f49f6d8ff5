package plaid.backend.cuda;

import java.util.Arrays;
import plaid.backend.Tensor;

/**
 * A float32 tensor in device memory: elements {@code [offset, offset + numel)} of an
 * allocation. Views hold the allocation, which is freed once no tensor refers to it.
 */
final class CudaTensor implements Tensor {
    /** One cuMemAlloc'd block of {@code floats} floats at {@code address} (0 when empty). */
    record Allocation(long address, long floats) {}

    final Allocation allocation;
    final long offset;
    private final int[] shape;
    private final long numel;

    CudaTensor(Allocation allocation, long offset, int[] shape) {
        long n = 1;
        for (int s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n *= s;
        }
        if (offset < 0 || offset + n > allocation.floats()) {
            throw new IllegalArgumentException(
                    "view " + Arrays.toString(shape) + " at " + offset + " exceeds storage of " + allocation.floats());
        }
        this.allocation = allocation;
        this.offset = offset;
        this.shape = shape.clone();
        this.numel = n;
    }

    /** The tensor as the CUDA backend's; refused when another backend made it. */
    static CudaTensor of(Tensor t) {
        if (t instanceof CudaTensor c) return c;
        throw new IllegalArgumentException("tensor " + t + " does not belong to the CUDA backend");
    }

    static void requireSameSize(CudaTensor a, CudaTensor b, String what) {
        if (a.numel() != b.numel()) {
            throw new IllegalArgumentException(
                    what + ": sizes differ, " + Arrays.toString(a.shape()) + " vs " + Arrays.toString(b.shape()));
        }
    }

    /** Elements in each of {@code groups} equal groups of t. */
    static long groupSize(CudaTensor t, int groups) {
        if (groups <= 0 || t.numel() % groups != 0)
            throw new IllegalArgumentException(t + " does not split into " + groups + " groups");
        return t.numel() / groups;
    }

    /** Device address of the first element. */
    long address() {
        return allocation.address() + offset * Float.BYTES;
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    @Override
    public long numel() {
        return numel;
    }

    /** Size of the last dimension (the row length of row-wise ops). */
    int lastDim() {
        return shape.length == 0 ? 1 : shape[shape.length - 1];
    }

    /** Rows of {@link #lastDim()} elements. */
    long rows() {
        return numel / Math.max(1, lastDim());
    }

    @Override
    public Tensor view(long offset, int... shape) {
        return new CudaTensor(allocation, this.offset + offset, shape);
    }

    @Override
    public String toString() {
        return "CudaTensor" + Arrays.toString(shape);
    }
}

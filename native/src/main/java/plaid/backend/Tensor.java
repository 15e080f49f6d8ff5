package plaid.backend;

/**
 * A float32 tensor owned by a {@link ComputeBackend}: row-major, contiguous, possibly a
 * view into a larger allocation. Only the backend that made it reads or writes its values.
 */
public interface Tensor {
    int[] shape();

    /** Element count. */
    default long numel() {
        long n = 1;
        for (int s : shape()) n *= s;
        return n;
    }

    default int dim(int i) {
        int[] s = shape();
        return s[i < 0 ? s.length + i : i];
    }

    /** A contiguous view of {@code numel(shape)} elements starting at element {@code offset}. */
    Tensor view(long offset, int... shape);

    /** The same elements seen with another shape. */
    default Tensor reshape(int... shape) {
        return view(0, shape);
    }
}

package plaid.backend.cpu;

import java.util.Arrays;
import plaid.backend.Tensor;

/** A float32 tensor in a Java array: elements {@code [offset, offset + numel)} of {@code data}. */
final class CpuTensor implements Tensor {
    final float[] data;
    final int offset;
    private final int[] shape;
    private final int numel;

    CpuTensor(float[] data, int offset, int[] shape) {
        long n = 1;
        for (int s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n *= s;
        }
        if (offset < 0 || offset + n > data.length) {
            throw new IllegalArgumentException(
                    "view " + Arrays.toString(shape) + " at " + offset + " exceeds storage of " + data.length);
        }
        this.data = data;
        this.offset = offset;
        this.shape = shape.clone();
        this.numel = (int) n;
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    @Override
    public long numel() {
        return numel;
    }

    int size() {
        return numel;
    }

    /** Size of the last dimension (the row length of row-wise ops). */
    int lastDim() {
        return shape.length == 0 ? 1 : shape[shape.length - 1];
    }

    @Override
    public Tensor view(long offset, int... shape) {
        return new CpuTensor(data, Math.toIntExact(this.offset + offset), shape);
    }

    @Override
    public String toString() {
        return "CpuTensor" + Arrays.toString(shape);
    }
}

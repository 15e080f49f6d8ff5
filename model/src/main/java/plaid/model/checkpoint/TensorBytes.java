package plaid.model.checkpoint;

import static java.nio.ByteOrder.LITTLE_ENDIAN;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import plaid.tensor.DType;
import plaid.tensor.HostTensor;

/** Little-endian element encoding, shared by both checkpoint formats. */
final class TensorBytes {
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LITTLE_ENDIAN);
    private static final ValueLayout.OfByte I8 = ValueLayout.JAVA_BYTE;
    /** Elements encoded per write, so no tensor needs a byte array of its full size. */
    private static final int CHUNK_ELEMENTS = 1 << 16;

    private TensorBytes() {}

    static long byteSize(HostTensor tensor) {
        return (long) tensor.numel() * tensor.dtype().byteSize();
    }

    static long[] contiguousStrides(int[] shape) {
        long[] strides = new long[shape.length];
        long stride = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            strides[d] = stride;
            stride *= shape[d];
        }
        return strides;
    }

    /** Decodes a row-major tensor that fills {@code data} from its first byte. */
    static HostTensor readContiguous(DType dtype, MemorySegment data, int[] shape) {
        return readView(dtype, data, 0, shape, contiguousStrides(shape));
    }

    /**
     * Decodes the view {@code (firstElement, shape, strides)} of {@code storage} (all in
     * elements) into a new contiguous tensor. The caller has checked that the view stays
     * inside the storage.
     */
    static HostTensor readView(DType dtype, MemorySegment storage, long firstElement, int[] shape, long[] strides) {
        int n = Math.toIntExact(HostTensor.numel(shape));
        long elementBytes = dtype.byteSize();
        StridedCursor cursor = new StridedCursor(firstElement, shape, strides);
        if (dtype.isFloatingPoint()) {
            double[] values = new double[n];
            for (int i = 0; i < n; i++) values[i] = floatAt(dtype, storage, cursor.next() * elementBytes);
            return HostTensor.ofDoubles(dtype, shape, values);
        }
        long[] values = new long[n];
        for (int i = 0; i < n; i++) values[i] = integerAt(dtype, storage, cursor.next() * elementBytes);
        return HostTensor.ofLongs(dtype, shape, values);
    }

    /** Writes the tensor's elements in row-major order, {@link #byteSize} bytes in all. */
    static void write(HostTensor tensor, OutputStream out) throws IOException {
        DType dtype = tensor.dtype();
        int elementBytes = dtype.byteSize();
        byte[] chunk = new byte[CHUNK_ELEMENTS * elementBytes];
        MemorySegment chunkSegment = MemorySegment.ofArray(chunk);
        double[] floats = dtype.isFloatingPoint() ? tensor.toDoubles() : null;
        long[] integers = floats == null ? tensor.toLongs() : null;
        int n = tensor.numel();
        for (int start = 0; start < n; start += CHUNK_ELEMENTS) {
            int count = Math.min(CHUNK_ELEMENTS, n - start);
            for (int j = 0; j < count; j++) {
                long at = (long) j * elementBytes;
                if (floats != null) putFloat(dtype, chunkSegment, at, floats[start + j]);
                else putInteger(dtype, chunkSegment, at, integers[start + j]);
            }
            out.write(chunk, 0, count * elementBytes);
        }
    }

    private static double floatAt(DType dtype, MemorySegment data, long at) {
        return switch (dtype) {
            case F64 -> data.get(F64, at);
            case F32 -> data.get(F32, at);
            case F16 -> Float.float16ToFloat(data.get(I16, at));
            case BF16 -> Float.intBitsToFloat((data.get(I16, at) & 0xFFFF) << 16);
            default -> throw new IllegalArgumentException(dtype + " is not a floating-point type");
        };
    }

    private static long integerAt(DType dtype, MemorySegment data, long at) {
        return switch (dtype) {
            case I64 -> data.get(I64, at);
            case I32 -> data.get(I32, at);
            case I16 -> data.get(I16, at);
            case I8 -> data.get(I8, at);
            case U8 -> data.get(I8, at) & 0xFF;
            case BOOL -> data.get(I8, at) != 0 ? 1 : 0;
            default -> throw new IllegalArgumentException(dtype + " is not an integer type");
        };
    }

    // Values read from a file of the same dtype convert back exactly; other doubles are
    // rounded to float first, then to the half types (one extra rounding step).
    private static void putFloat(DType dtype, MemorySegment data, long at, double value) {
        switch (dtype) {
            case F64 -> data.set(F64, at, value);
            case F32 -> data.set(F32, at, (float) value);
            case F16 -> data.set(I16, at, Float.floatToFloat16((float) value));
            case BF16 -> data.set(I16, at, toBFloat16((float) value));
            default -> throw new IllegalArgumentException(dtype + " is not a floating-point type");
        }
    }

    private static void putInteger(DType dtype, MemorySegment data, long at, long value) {
        switch (dtype) {
            case I64 -> data.set(I64, at, value);
            case I32 -> data.set(I32, at, (int) checkRange(dtype, value, Integer.MIN_VALUE, Integer.MAX_VALUE));
            case I16 -> data.set(I16, at, (short) checkRange(dtype, value, Short.MIN_VALUE, Short.MAX_VALUE));
            case I8 -> data.set(I8, at, (byte) checkRange(dtype, value, Byte.MIN_VALUE, Byte.MAX_VALUE));
            case U8 -> data.set(I8, at, (byte) checkRange(dtype, value, 0, 255));
            case BOOL -> data.set(I8, at, (byte) checkRange(dtype, value, 0, 1));
            default -> throw new IllegalArgumentException(dtype + " is not an integer type");
        }
    }

    private static long checkRange(DType dtype, long value, long min, long max) {
        if (value < min || value > max) throw new IllegalArgumentException("value " + value + " does not fit " + dtype);
        return value;
    }

    /** Rounds to nearest even, as torch does when casting float to bfloat16. */
    private static short toBFloat16(float value) {
        int bits = Float.floatToRawIntBits(value);
        // Truncating a NaN could leave only zero mantissa bits (infinity); set the quiet bit.
        if (Float.isNaN(value)) return (short) ((bits >>> 16) | 0x0040);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** Walks a strided view in row-major order, yielding storage element indices. */
    private static final class StridedCursor {
        private final int[] shape;
        private final long[] strides;
        private final int[] index;
        private long position;

        StridedCursor(long firstElement, int[] shape, long[] strides) {
            this.shape = shape;
            this.strides = strides;
            this.index = new int[shape.length];
            this.position = firstElement;
        }

        long next() {
            long current = position;
            for (int d = shape.length - 1; d >= 0; d--) {
                position += strides[d];
                if (++index[d] < shape[d]) break;
                position -= strides[d] * shape[d];
                index[d] = 0;
            }
            return current;
        }
    }
}

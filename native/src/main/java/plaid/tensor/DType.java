package plaid.tensor;

/** Element types that checkpoints and fixtures carry; names follow safetensors. */
public enum DType {
    F64(8),
    F32(4),
    BF16(2),
    F16(2),
    I64(8),
    I32(4),
    I16(2),
    I8(1),
    U8(1),
    BOOL(1);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    public int byteSize() {
        return byteSize;
    }

    public boolean isFloatingPoint() {
        return this == F64 || this == F32 || this == BF16 || this == F16;
    }
}

package plaid.backend.cuda;

import java.util.Locale;

/**
 * The arithmetic of {@link CudaBackend#gemm}: every matrix stays fp32 in memory and every sum
 * is accumulated in fp32; TF32 and BF16 let cuBLAS round the inputs for the tensor cores
 * (10 and 7 mantissa bits), which is several times faster and no longer agrees with the CPU
 * reference to fp32 rounding. Chosen by {@code -Dplaid.cuda.precision=fp32|tf32|bf16}
 * (default fp32) or {@link CudaBackend#gemmPrecision(GemmPrecision)}.
 */
public enum GemmPrecision {
    FP32(Cublas.CUBLAS_COMPUTE_32F),
    TF32(Cublas.CUBLAS_COMPUTE_32F_FAST_TF32),
    BF16(Cublas.CUBLAS_COMPUTE_32F_FAST_16BF);

    public static final String PROPERTY = "plaid.cuda.precision";

    final int cublasComputeType;
    /** The name {@link CudaBackend#opProfile()} lists its GEMMs under. */
    final String profileKey;

    GemmPrecision(int cublasComputeType) {
        this.cublasComputeType = cublasComputeType;
        this.profileKey = "gemm " + name().toLowerCase(Locale.ROOT);
    }

    /** The precision {@value #PROPERTY} names, FP32 when unset. */
    public static GemmPrecision fromSystemProperty() {
        String value = System.getProperty(PROPERTY, "fp32");
        try {
            return valueOf(value.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(PROPERTY + " must be fp32, tf32 or bf16, got " + value, e);
        }
    }
}

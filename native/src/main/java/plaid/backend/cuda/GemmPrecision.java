package plaid.backend.cuda;

import java.util.Locale;
import plaid.backend.cuda.bind.Cublas;

/**
 * The arithmetic of the CUDA backend's GEMMs: every sum is accumulated in fp32. FP32 agrees with
 * the CPU reference to fp32 rounding; TF32 and BF16 let the tensor cores multiply inputs rounded
 * to 10 and 7 mantissa bits, several times faster. In BF16 the GEMMs big enough to pay for it
 * multiply bf16 copies of both operands through cuBLASLt (the copies are the rounding), the
 * others hand cuBLAS the fp32 matrices to round on the fly; BF16 also runs attention on the
 * tensor cores (see {@link CudaOptions}). Chosen by {@code -Dplaid.cuda.precision=fp32|tf32|bf16}
 * (default fp32), read into {@link CudaOptions} when a backend is made.
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
        return parse(System.getProperty(PROPERTY, "fp32"));
    }

    /** fp32, tf32 or bf16, in any case. */
    public static GemmPrecision parse(String value) {
        try {
            return valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(PROPERTY + " must be fp32, tf32 or bf16, got " + value, e);
        }
    }
}

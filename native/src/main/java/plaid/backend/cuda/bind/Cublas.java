package plaid.backend.cuda.bind;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import plaid.backend.cuda.CudaException;

/**
 * Bindings to cuBLAS, in jextract's style: only handle management (stream, workspace, math mode) and
 * GemmEx on fp32 matrices. cuBLAS is column-major; the CUDA backend's GEMM maps the row-major calls
 * onto it. Every wrapper returns the cublasStatus_t.
 */
public final class Cublas {
    private Cublas() {}

    public static final int CUBLAS_OP_N = 0;
    public static final int CUBLAS_OP_T = 1;
    /** Full fp32 arithmetic: no TF32 tensor cores unless a compute type asks, which keeps parity with the CPU. */
    public static final int CUBLAS_DEFAULT_MATH = 0;
    /** cudaDataType CUDA_R_32F: every matrix stays fp32 in memory whatever the compute type. */
    public static final int CUDA_R_32F = 0;
    /** cudaDataType CUDA_R_16BF: the bf16 copies of GEMM operands in the bf16 mode (cuBLASLt only). */
    public static final int CUDA_R_16BF = 14;
    /** cublasComputeType_t values; see plaid.backend.cuda.GemmPrecision. */
    public static final int CUBLAS_COMPUTE_32F = 68;

    public static final int CUBLAS_COMPUTE_32F_FAST_16BF = 75;
    public static final int CUBLAS_COMPUTE_32F_FAST_TF32 = 77;
    /** cublasGemmAlgo_t: cuBLAS's heuristics choose. */
    public static final int CUBLAS_GEMM_DEFAULT = -1;

    private static final NativeLibrary LIBRARY =
            NativeLibrary.load("cuBLAS (libcublas)", "libcublas.so.13", "libcublas.so.12", "libcublas.so");

    private static final MethodHandle cublasCreate =
            LIBRARY.function("cublasCreate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cublasDestroy =
            LIBRARY.function("cublasDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cublasSetStream =
            LIBRARY.function("cublasSetStream_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle cublasSetWorkspace =
            LIBRARY.function("cublasSetWorkspace_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle cublasSetMathMode =
            LIBRARY.function("cublasSetMathMode", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle cublasGemmEx = LIBRARY.function(
            "cublasGemmEx",
            FunctionDescriptor.of(
                    JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT,
                    JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT,
                    JAVA_INT));

    /** Throws unless {@code status} is CUBLAS_STATUS_SUCCESS. */
    public static void check(int status, String call) {
        if (status != 0) throw new CudaException(call + " failed with cublasStatus_t " + status);
    }

    public static int cublasCreate(MemorySegment handle) {
        try {
            return (int) cublasCreate.invokeExact(handle);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cublasDestroy(MemorySegment handle) {
        try {
            return (int) cublasDestroy.invokeExact(handle);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cublasSetStream(MemorySegment handle, MemorySegment stream) {
        try {
            return (int) cublasSetStream.invokeExact(handle, stream);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /**
     * The device buffer cuBLAS uses as its workspace on the handle's stream (set after cublasSetStream, which
     * resets it): without one, cuBLAS allocates its own, which a stream capture does not allow.
     */
    public static int cublasSetWorkspace(MemorySegment handle, long workspace, long bytes) {
        try {
            return (int) cublasSetWorkspace.invokeExact(handle, workspace, bytes);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cublasSetMathMode(MemorySegment handle, int mode) {
        try {
            return (int) cublasSetMathMode.invokeExact(handle, mode);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /**
     * Column-major {@code C = alpha·op(A)·op(B) + beta·C} on fp32 matrices with the given
     * cublasComputeType_t; alpha and beta point to host floats, A, B, C are device pointers.
     */
    public static int cublasGemmEx(
            MemorySegment handle,
            int transA,
            int transB,
            int m,
            int n,
            int k,
            MemorySegment alpha,
            long a,
            int lda,
            long b,
            int ldb,
            MemorySegment beta,
            long c,
            int ldc,
            int computeType) {
        try {
            return (int) cublasGemmEx.invokeExact(
                    handle,
                    transA,
                    transB,
                    m,
                    n,
                    k,
                    alpha,
                    a,
                    CUDA_R_32F,
                    lda,
                    b,
                    CUDA_R_32F,
                    ldb,
                    beta,
                    c,
                    CUDA_R_32F,
                    ldc,
                    computeType,
                    CUBLAS_GEMM_DEFAULT);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }
}

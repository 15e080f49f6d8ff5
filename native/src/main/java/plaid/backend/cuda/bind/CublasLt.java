package plaid.backend.cuda.bind;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import plaid.backend.cuda.CudaException;

/**
 * Bindings to cuBLASLt in jextract's style: only a matmul (fp32 or bf16 operands) with a fused bias / GELU epilogue.
 * Every wrapper returns the cublasStatus_t.
 */
public final class CublasLt {
    private CublasLt() {}

    // cublasLtMatmulDescAttributes_t
    public static final int MATMUL_DESC_TRANSA = 3;
    public static final int MATMUL_DESC_TRANSB = 4;
    public static final int MATMUL_DESC_EPILOGUE = 7;
    public static final int MATMUL_DESC_BIAS_POINTER = 8;
    public static final int MATMUL_DESC_EPILOGUE_AUX_POINTER = 11;
    public static final int MATMUL_DESC_EPILOGUE_AUX_LD = 12;
    // cublasLtEpilogue_t
    public static final int EPILOGUE_DEFAULT = 1;
    public static final int EPILOGUE_BIAS = 4;
    public static final int EPILOGUE_GELU = 32;
    /** GELU that also stores its input (the pre-activation) in the aux buffer. */
    public static final int EPILOGUE_GELU_AUX = EPILOGUE_GELU | 128;
    // cublasLtMatmulPreferenceAttributes_t
    public static final int PREF_MAX_WORKSPACE_BYTES = 1;
    /** Minimum alignment in bytes (uint32_t, default 256) the chosen algorithm may assume for A, B, C and D. */
    public static final int PREF_MIN_ALIGNMENT_A_BYTES = 5;

    public static final int PREF_MIN_ALIGNMENT_B_BYTES = 6;
    public static final int PREF_MIN_ALIGNMENT_C_BYTES = 7;
    public static final int PREF_MIN_ALIGNMENT_D_BYTES = 8;
    /** cublasLtMatmulHeuristicResult_t: algo (8 × uint64), workspaceSize, state, wavesCount, reserved[4]. */
    public static final long HEURISTIC_RESULT_BYTES = 64 + 8 + 4 + 4 + 16;

    private static final NativeLibrary LIBRARY =
            NativeLibrary.load("cuBLASLt (libcublasLt)", "libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so");

    private static final MethodHandle cublasLtCreate =
            LIBRARY.function("cublasLtCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cublasLtDestroy =
            LIBRARY.function("cublasLtDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cublasLtMatmulDescCreate =
            LIBRARY.function("cublasLtMatmulDescCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle cublasLtMatmulDescDestroy =
            LIBRARY.function("cublasLtMatmulDescDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cublasLtMatmulDescSetAttribute = LIBRARY.function(
            "cublasLtMatmulDescSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle cublasLtMatrixLayoutCreate = LIBRARY.function(
            "cublasLtMatrixLayoutCreate",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle cublasLtMatrixLayoutDestroy =
            LIBRARY.function("cublasLtMatrixLayoutDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cublasLtMatmulPreferenceCreate =
            LIBRARY.function("cublasLtMatmulPreferenceCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cublasLtMatmulPreferenceDestroy =
            LIBRARY.function("cublasLtMatmulPreferenceDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cublasLtMatmulPreferenceSetAttribute = LIBRARY.function(
            "cublasLtMatmulPreferenceSetAttribute",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle cublasLtMatmulAlgoGetHeuristic = LIBRARY.function(
            "cublasLtMatmulAlgoGetHeuristic",
            FunctionDescriptor.of(
                    JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS,
                    ADDRESS));
    private static final MethodHandle cublasLtMatmul = LIBRARY.function(
            "cublasLtMatmul",
            FunctionDescriptor.of(
                    JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG,
                    ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS));

    public static void check(int status, String call) {
        if (status != 0) throw new CudaException(call + " failed with cublasStatus_t " + status);
    }

    public static int create(MemorySegment handle) {
        try {
            return (int) cublasLtCreate.invokeExact(handle);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int destroy(MemorySegment handle) {
        try {
            return (int) cublasLtDestroy.invokeExact(handle);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int matmulDescCreate(MemorySegment desc, int computeType, int scaleType) {
        try {
            return (int) cublasLtMatmulDescCreate.invokeExact(desc, computeType, scaleType);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int matmulDescDestroy(MemorySegment desc) {
        try {
            return (int) cublasLtMatmulDescDestroy.invokeExact(desc);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int matmulDescSetAttribute(MemorySegment desc, int attribute, MemorySegment value, long size) {
        try {
            return (int) cublasLtMatmulDescSetAttribute.invokeExact(desc, attribute, value, size);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int matrixLayoutCreate(MemorySegment layout, int type, long rows, long cols, long ld) {
        try {
            return (int) cublasLtMatrixLayoutCreate.invokeExact(layout, type, rows, cols, ld);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int matrixLayoutDestroy(MemorySegment layout) {
        try {
            return (int) cublasLtMatrixLayoutDestroy.invokeExact(layout);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int preferenceCreate(MemorySegment preference) {
        try {
            return (int) cublasLtMatmulPreferenceCreate.invokeExact(preference);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int preferenceDestroy(MemorySegment preference) {
        try {
            return (int) cublasLtMatmulPreferenceDestroy.invokeExact(preference);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int preferenceSetAttribute(MemorySegment preference, int attribute, MemorySegment value, long size) {
        try {
            return (int) cublasLtMatmulPreferenceSetAttribute.invokeExact(preference, attribute, value, size);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int algoGetHeuristic(
            MemorySegment handle,
            MemorySegment desc,
            MemorySegment a,
            MemorySegment b,
            MemorySegment c,
            MemorySegment d,
            MemorySegment preference,
            int requested,
            MemorySegment results,
            MemorySegment returned) {
        try {
            return (int) cublasLtMatmulAlgoGetHeuristic.invokeExact(
                    handle, desc, a, b, c, d, preference, requested, results, returned);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int matmul(
            MemorySegment handle,
            MemorySegment desc,
            MemorySegment alpha,
            long a,
            MemorySegment aLayout,
            long b,
            MemorySegment bLayout,
            MemorySegment beta,
            long c,
            MemorySegment cLayout,
            long d,
            MemorySegment dLayout,
            MemorySegment algo,
            long workspace,
            long workspaceBytes,
            MemorySegment stream) {
        try {
            return (int) cublasLtMatmul.invokeExact(
                    handle,
                    desc,
                    alpha,
                    a,
                    aLayout,
                    b,
                    bLayout,
                    beta,
                    c,
                    cLayout,
                    d,
                    dLayout,
                    algo,
                    workspace,
                    workspaceBytes,
                    stream);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }
}

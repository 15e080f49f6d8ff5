package plaid.backend.cuda.bind;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import plaid.backend.cuda.CudaException;

/**
 * Bindings to NVRTC, CUDA's runtime compiler, in jextract's style: only what compiling a
 * kernel source to a CUBIN needs. Every wrapper returns the nvrtcResult.
 */
public final class Nvrtc {
    private Nvrtc() {}

    private static final NativeLibrary LIBRARY =
            NativeLibrary.load("NVRTC (libnvrtc)", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so");

    private static final MethodHandle nvrtcGetErrorString =
            LIBRARY.function("nvrtcGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle nvrtcCreateProgram = LIBRARY.function(
            "nvrtcCreateProgram",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle nvrtcCompileProgram =
            LIBRARY.function("nvrtcCompileProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
    private static final MethodHandle nvrtcGetProgramLogSize =
            LIBRARY.function("nvrtcGetProgramLogSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle nvrtcGetProgramLog =
            LIBRARY.function("nvrtcGetProgramLog", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle nvrtcGetCUBINSize =
            LIBRARY.function("nvrtcGetCUBINSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle nvrtcGetCUBIN =
            LIBRARY.function("nvrtcGetCUBIN", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle nvrtcDestroyProgram =
            LIBRARY.function("nvrtcDestroyProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS));

    /** Throws unless {@code result} is NVRTC_SUCCESS. */
    public static void check(int result, String call) {
        if (result != 0)
            throw new CudaException(call + " failed: " + errorString(result) + " (nvrtcResult " + result + ")");
    }

    private static String errorString(int result) {
        try {
            return ((MemorySegment) nvrtcGetErrorString.invokeExact(result))
                    .reinterpret(Long.MAX_VALUE)
                    .getString(0);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int nvrtcCreateProgram(
            MemorySegment program,
            MemorySegment source,
            MemorySegment name,
            int headerCount,
            MemorySegment headers,
            MemorySegment includeNames) {
        try {
            return (int) nvrtcCreateProgram.invokeExact(program, source, name, headerCount, headers, includeNames);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int nvrtcCompileProgram(MemorySegment program, int optionCount, MemorySegment options) {
        try {
            return (int) nvrtcCompileProgram.invokeExact(program, optionCount, options);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int nvrtcGetProgramLogSize(MemorySegment program, MemorySegment size) {
        try {
            return (int) nvrtcGetProgramLogSize.invokeExact(program, size);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int nvrtcGetProgramLog(MemorySegment program, MemorySegment log) {
        try {
            return (int) nvrtcGetProgramLog.invokeExact(program, log);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int nvrtcGetCUBINSize(MemorySegment program, MemorySegment size) {
        try {
            return (int) nvrtcGetCUBINSize.invokeExact(program, size);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int nvrtcGetCUBIN(MemorySegment program, MemorySegment cubin) {
        try {
            return (int) nvrtcGetCUBIN.invokeExact(program, cubin);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int nvrtcDestroyProgram(MemorySegment program) {
        try {
            return (int) nvrtcDestroyProgram.invokeExact(program);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }
}

package plaid.backend.cuda.bind;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import plaid.backend.cuda.CudaException;

/**
 * Bindings to the CUDA driver API (libcuda), in jextract's style: one downcall handle and one
 * static wrapper per function, only the functions the backend uses. Handles (CUcontext,
 * CUmodule, CUfunction, CUstream) are addresses; device pointers (CUdeviceptr) are longs;
 * every wrapper returns the CUresult, which {@link #check} turns into an exception.
 */
public final class CudaDriver {
    private CudaDriver() {}

    public static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    public static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    /** A stream that synchronises with the legacy default stream (CU_STREAM_DEFAULT). */
    public static final int CU_STREAM_DEFAULT = 0;

    public static final int CUDA_ERROR_OUT_OF_MEMORY = 2;
    /** CUevent_flags CU_EVENT_DISABLE_TIMING: an event only waited on, never timed. */
    public static final int CU_EVENT_DISABLE_TIMING = 2;

    private static final NativeLibrary LIBRARY =
            NativeLibrary.load("the CUDA driver (libcuda)", "libcuda.so.1", "libcuda.so");

    private static final MethodHandle cuInit = LIBRARY.function("cuInit", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle cuGetErrorString =
            LIBRARY.function("cuGetErrorString", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle cuDeviceGet =
            LIBRARY.function("cuDeviceGet", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle cuDeviceGetName =
            LIBRARY.function("cuDeviceGetName", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle cuDeviceGetAttribute =
            LIBRARY.function("cuDeviceGetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle cuDeviceTotalMem =
            LIBRARY.function("cuDeviceTotalMem_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle cuDevicePrimaryCtxRetain =
            LIBRARY.function("cuDevicePrimaryCtxRetain", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle cuDevicePrimaryCtxRelease =
            LIBRARY.function("cuDevicePrimaryCtxRelease_v2", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle cuCtxSetCurrent =
            LIBRARY.function("cuCtxSetCurrent", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cuCtxSynchronize =
            LIBRARY.function("cuCtxSynchronize", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle cuMemAlloc =
            LIBRARY.function("cuMemAlloc_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle cuMemFree =
            LIBRARY.function("cuMemFree_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
    private static final MethodHandle cuMemcpyHtoD =
            LIBRARY.function("cuMemcpyHtoD_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG));
    private static final MethodHandle cuMemcpyDtoH =
            LIBRARY.function("cuMemcpyDtoH_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    /**
     * The same two copies as critical downcalls that may read and write Java arrays in place
     * (no off-heap staging copy); the garbage collector waits while one runs, so callers copy in chunks.
     */
    private static final MethodHandle cuMemcpyHtoDHeap = LIBRARY.function(
            "cuMemcpyHtoD_v2",
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG),
            java.lang.foreign.Linker.Option.critical(true));

    private static final MethodHandle cuMemcpyDtoHHeap = LIBRARY.function(
            "cuMemcpyDtoH_v2",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG),
            java.lang.foreign.Linker.Option.critical(true));
    private static final MethodHandle cuMemcpyDtoD =
            LIBRARY.function("cuMemcpyDtoD_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle cuMemsetD32 =
            LIBRARY.function("cuMemsetD32_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG));
    private static final MethodHandle cuModuleLoadData =
            LIBRARY.function("cuModuleLoadData", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle cuModuleUnload =
            LIBRARY.function("cuModuleUnload", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cuModuleGetFunction =
            LIBRARY.function("cuModuleGetFunction", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    private static final MethodHandle cuLaunchKernel = LIBRARY.function(
            "cuLaunchKernel",
            FunctionDescriptor.of(
                    JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS,
                    ADDRESS, ADDRESS));
    private static final MethodHandle cuStreamCreate =
            LIBRARY.function("cuStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle cuStreamDestroy =
            LIBRARY.function("cuStreamDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cuStreamSynchronize =
            LIBRARY.function("cuStreamSynchronize", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    // the asynchronous copies and events of a step recorded as a CUDA graph (the graph calls: CudaGraphs)
    private static final MethodHandle cuMemAllocHost =
            LIBRARY.function("cuMemAllocHost_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle cuMemFreeHost =
            LIBRARY.function("cuMemFreeHost", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cuMemcpyHtoDAsync = LIBRARY.function(
            "cuMemcpyHtoDAsync_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS));
    private static final MethodHandle cuMemcpyDtoDAsync = LIBRARY.function(
            "cuMemcpyDtoDAsync_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS));
    private static final MethodHandle cuMemsetD32Async = LIBRARY.function(
            "cuMemsetD32Async", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle cuEventCreate =
            LIBRARY.function("cuEventCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle cuEventRecord =
            LIBRARY.function("cuEventRecord", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle cuEventSynchronize =
            LIBRARY.function("cuEventSynchronize", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cuEventDestroy =
            LIBRARY.function("cuEventDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));

    /** Throws unless {@code result} is CUDA_SUCCESS, naming the call and the driver's description of the error. */
    public static void check(int result, String call) {
        if (result != 0) {
            throw new CudaException(
                    call + " failed: " + errorString(result) + " (CUresult " + result + ")",
                    result == CUDA_ERROR_OUT_OF_MEMORY);
        }
    }

    private static String errorString(int result) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocate(ADDRESS);
            if ((int) cuGetErrorString.invokeExact(result, text) != 0) return "unknown error";
            return text.get(ADDRESS, 0).reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuInit(int flags) {
        try {
            return (int) cuInit.invokeExact(flags);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuDeviceGetName(MemorySegment name, int length, int device) {
        try {
            return (int) cuDeviceGetName.invokeExact(name, length, device);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuDeviceGet(MemorySegment device, int ordinal) {
        try {
            return (int) cuDeviceGet.invokeExact(device, ordinal);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /** Total memory of the device in bytes, into {@code bytes} (a size_t). */
    public static int cuDeviceTotalMem(MemorySegment bytes, int device) {
        try {
            return (int) cuDeviceTotalMem.invokeExact(bytes, device);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuDeviceGetAttribute(MemorySegment value, int attribute, int device) {
        try {
            return (int) cuDeviceGetAttribute.invokeExact(value, attribute, device);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuDevicePrimaryCtxRetain(MemorySegment context, int device) {
        try {
            return (int) cuDevicePrimaryCtxRetain.invokeExact(context, device);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuDevicePrimaryCtxRelease(int device) {
        try {
            return (int) cuDevicePrimaryCtxRelease.invokeExact(device);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuCtxSetCurrent(MemorySegment context) {
        try {
            return (int) cuCtxSetCurrent.invokeExact(context);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuCtxSynchronize() {
        try {
            return (int) cuCtxSynchronize.invokeExact();
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuMemAlloc(MemorySegment devicePointer, long bytes) {
        try {
            return (int) cuMemAlloc.invokeExact(devicePointer, bytes);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuMemFree(long devicePointer) {
        try {
            return (int) cuMemFree.invokeExact(devicePointer);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuMemcpyHtoD(long destination, MemorySegment source, long bytes) {
        try {
            return (int) cuMemcpyHtoD.invokeExact(destination, source, bytes);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuMemcpyDtoH(MemorySegment destination, long source, long bytes) {
        try {
            return (int) cuMemcpyDtoH.invokeExact(destination, source, bytes);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /** {@link #cuMemcpyHtoD} from a heap segment (a Java array) or an off-heap one. */
    public static int cuMemcpyHtoDHeap(long destination, MemorySegment source, long bytes) {
        try {
            return (int) cuMemcpyHtoDHeap.invokeExact(destination, source, bytes);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /** {@link #cuMemcpyDtoH} into a heap segment (a Java array) or an off-heap one. */
    public static int cuMemcpyDtoHHeap(MemorySegment destination, long source, long bytes) {
        try {
            return (int) cuMemcpyDtoHHeap.invokeExact(destination, source, bytes);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuMemcpyDtoD(long destination, long source, long bytes) {
        try {
            return (int) cuMemcpyDtoD.invokeExact(destination, source, bytes);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuMemsetD32(long destination, int value, long count) {
        try {
            return (int) cuMemsetD32.invokeExact(destination, value, count);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuModuleLoadData(MemorySegment module, MemorySegment image) {
        try {
            return (int) cuModuleLoadData.invokeExact(module, image);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuModuleUnload(MemorySegment module) {
        try {
            return (int) cuModuleUnload.invokeExact(module);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuModuleGetFunction(MemorySegment function, MemorySegment module, MemorySegment name) {
        try {
            return (int) cuModuleGetFunction.invokeExact(function, module, name);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuLaunchKernel(
            MemorySegment function,
            int gridX,
            int gridY,
            int gridZ,
            int blockX,
            int blockY,
            int blockZ,
            int sharedMemoryBytes,
            MemorySegment stream,
            MemorySegment kernelParameters,
            MemorySegment extra) {
        try {
            return (int) cuLaunchKernel.invokeExact(
                    function,
                    gridX,
                    gridY,
                    gridZ,
                    blockX,
                    blockY,
                    blockZ,
                    sharedMemoryBytes,
                    stream,
                    kernelParameters,
                    extra);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuStreamCreate(MemorySegment stream, int flags) {
        try {
            return (int) cuStreamCreate.invokeExact(stream, flags);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuStreamDestroy(MemorySegment stream) {
        try {
            return (int) cuStreamDestroy.invokeExact(stream);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuStreamSynchronize(MemorySegment stream) {
        try {
            return (int) cuStreamSynchronize.invokeExact(stream);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /** Page-locked host memory (its address into {@code pointer}), which asynchronous copies read in place. */
    public static int cuMemAllocHost(MemorySegment pointer, long bytes) {
        try {
            return (int) cuMemAllocHost.invokeExact(pointer, bytes);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuMemFreeHost(MemorySegment pointer) {
        try {
            return (int) cuMemFreeHost.invokeExact(pointer);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /** A copy queued on {@code stream} from page-locked host memory. */
    public static int cuMemcpyHtoDAsync(long destination, MemorySegment source, long bytes, MemorySegment stream) {
        try {
            return (int) cuMemcpyHtoDAsync.invokeExact(destination, source, bytes, stream);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuMemcpyDtoDAsync(long destination, long source, long bytes, MemorySegment stream) {
        try {
            return (int) cuMemcpyDtoDAsync.invokeExact(destination, source, bytes, stream);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuMemsetD32Async(long destination, int value, long count, MemorySegment stream) {
        try {
            return (int) cuMemsetD32Async.invokeExact(destination, value, count, stream);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuEventCreate(MemorySegment event, int flags) {
        try {
            return (int) cuEventCreate.invokeExact(event, flags);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuEventRecord(MemorySegment event, MemorySegment stream) {
        try {
            return (int) cuEventRecord.invokeExact(event, stream);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuEventSynchronize(MemorySegment event) {
        try {
            return (int) cuEventSynchronize.invokeExact(event);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuEventDestroy(MemorySegment event) {
        try {
            return (int) cuEventDestroy.invokeExact(event);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }
}

package plaid.backend.cuda.bind;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Bindings to the CUDA driver's stream capture and graphs (libcuda), as {@link CudaDriver}'s: a step recorded
 * once as a graph and replayed (the backend's CapturedStep). Every wrapper returns the CUresult.
 */
public final class CudaGraphs {
    private CudaGraphs() {}

    /**
     * CUstreamCaptureMode CU_STREAM_CAPTURE_MODE_THREAD_LOCAL: the capturing thread may not make calls that
     * are unsafe during a capture (an allocation, a synchronous copy), other threads are not held back.
     */
    public static final int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

    /** CUstreamCaptureStatus: the stream is not capturing. */
    public static final int CAPTURE_STATUS_NONE = 0;
    /** CUstreamCaptureStatus: the capture holds. */
    public static final int CAPTURE_STATUS_ACTIVE = 1;
    /** CUstreamCaptureStatus: an illegal call broke the capture; it must be ended, and its graph is lost. */
    public static final int CAPTURE_STATUS_INVALIDATED = 2;
    /** CUresult CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: the call is not allowed while the stream captures. */
    public static final int CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900;
    /** CUresult CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: an earlier call broke the capture. */
    public static final int CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901;

    private static final NativeLibrary LIBRARY =
            NativeLibrary.load("the CUDA driver (libcuda)", "libcuda.so.1", "libcuda.so");

    private static final MethodHandle cuStreamBeginCapture =
            LIBRARY.function("cuStreamBeginCapture_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle cuStreamEndCapture =
            LIBRARY.function("cuStreamEndCapture", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle cuStreamIsCapturing =
            LIBRARY.function("cuStreamIsCapturing", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle cuGraphInstantiateWithFlags = LIBRARY.function(
            "cuGraphInstantiateWithFlags", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle cuGraphLaunch =
            LIBRARY.function("cuGraphLaunch", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle cuGraphExecDestroy =
            LIBRARY.function("cuGraphExecDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle cuGraphDestroy =
            LIBRARY.function("cuGraphDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));

    /** Starts capturing the work queued on {@code stream} into a graph instead of running it. */
    public static int cuStreamBeginCapture(MemorySegment stream, int mode) {
        try {
            return (int) cuStreamBeginCapture.invokeExact(stream, mode);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /** Ends the capture on {@code stream}, the graph (a CUgraph) into {@code graph}; also when it fails. */
    public static int cuStreamEndCapture(MemorySegment stream, MemorySegment graph) {
        try {
            return (int) cuStreamEndCapture.invokeExact(stream, graph);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /**
     * The stream's CUstreamCaptureStatus ({@link #CAPTURE_STATUS_ACTIVE}, {@link #CAPTURE_STATUS_INVALIDATED}, …),
     * or a negative CUresult when the query itself failed. Allowed during a capture.
     */
    public static int captureStatus(MemorySegment stream) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment status = arena.allocate(JAVA_INT);
            int result = (int) cuStreamIsCapturing.invokeExact(stream, status);
            return result != 0 ? -result : status.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /** An executable graph (a CUgraphExec into {@code exec}) of {@code graph}; cuda.h's cuGraphInstantiate. */
    public static int cuGraphInstantiate(MemorySegment exec, MemorySegment graph, long flags) {
        try {
            return (int) cuGraphInstantiateWithFlags.invokeExact(exec, graph, flags);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuGraphLaunch(MemorySegment exec, MemorySegment stream) {
        try {
            return (int) cuGraphLaunch.invokeExact(exec, stream);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuGraphExecDestroy(MemorySegment exec) {
        try {
            return (int) cuGraphExecDestroy.invokeExact(exec);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int cuGraphDestroy(MemorySegment graph) {
        try {
            return (int) cuGraphDestroy.invokeExact(graph);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }
}

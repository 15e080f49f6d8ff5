package plaid.backend.cuda.bind;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The driver's calls that order one stream after another's event and time the gap between two
 * events, for NCCL's communication stream beside a backend's compute stream ({@code
 * cuda.CommStream}). Kept apart from {@link CudaDriver}, which creates and records the events and
 * is at the file-size limit; same style: each wrapper returns the CUresult for {@link
 * CudaDriver#check}.
 */
public final class CudaStreamOrder {
    private CudaStreamOrder() {}

    /**
     * CU_STREAM_NON_BLOCKING: a stream that does not synchronise with the legacy default stream, so
     * the synchronous copies and fills queued there neither wait for its work nor hold it back.
     */
    public static final int CU_STREAM_NON_BLOCKING = 1;
    /** CU_EVENT_DEFAULT: an event that records a time, for {@link #cuEventElapsedTime}. */
    public static final int CU_EVENT_DEFAULT = 0;

    private static final NativeLibrary LIBRARY =
            NativeLibrary.load("the CUDA driver (libcuda)", "libcuda.so.1", "libcuda.so");

    private static final MethodHandle cuStreamWaitEvent =
            LIBRARY.function("cuStreamWaitEvent", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle cuEventElapsedTime =
            LIBRARY.function("cuEventElapsedTime", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));

    /** Work queued on {@code stream} after this call waits for {@code event}'s latest record; the host goes on. */
    public static int cuStreamWaitEvent(MemorySegment stream, MemorySegment event, int flags) {
        try {
            return (int) cuStreamWaitEvent.invokeExact(stream, event, flags);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /** Milliseconds (a float at {@code milliseconds}) between two completed, timed events. */
    public static int cuEventElapsedTime(MemorySegment milliseconds, MemorySegment start, MemorySegment end) {
        try {
            return (int) cuEventElapsedTime.invokeExact(milliseconds, start, end);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }
}

package plaid.backend.cuda.bind;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import plaid.backend.cuda.CudaException;

/**
 * Bindings to NCCL in jextract's style: only what data-parallel training's gradient
 * all-reduce needs. Every wrapper returns the ncclResult_t.
 */
public final class Nccl {
    private Nccl() {}

    /** ncclUniqueId: 128 opaque bytes, passed by value to ncclCommInitRank. */
    public static final StructLayout UNIQUE_ID = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(128, JAVA_BYTE).withName("internal"));

    public static final int NCCL_FLOAT32 = 7;
    public static final int NCCL_FLOAT64 = 8;
    public static final int NCCL_SUM = 0;
    /** ncclAvg: the sum divided by the rank count (NCCL ≥ 2.10). */
    public static final int NCCL_AVG = 4;

    private static final NativeLibrary LIBRARY = NativeLibrary.load("NCCL (libnccl)", "libnccl.so.2", "libnccl.so");

    private static final MethodHandle ncclGetErrorString =
            LIBRARY.function("ncclGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle ncclGetVersion =
            LIBRARY.function("ncclGetVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle ncclGetUniqueId =
            LIBRARY.function("ncclGetUniqueId", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle ncclCommInitRank = LIBRARY.function(
            "ncclCommInitRank", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, UNIQUE_ID, JAVA_INT));
    private static final MethodHandle ncclAllReduce = LIBRARY.function(
            "ncclAllReduce",
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle ncclCommInitAll =
            LIBRARY.function("ncclCommInitAll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
    private static final MethodHandle ncclBroadcast = LIBRARY.function(
            "ncclBroadcast",
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle ncclGroupStart =
            LIBRARY.function("ncclGroupStart", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle ncclGroupEnd = LIBRARY.function("ncclGroupEnd", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle ncclCommAbort =
            LIBRARY.function("ncclCommAbort", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle ncclCommDestroy =
            LIBRARY.function("ncclCommDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));

    /** Throws unless {@code result} is ncclSuccess. */
    public static void check(int result, String call) {
        if (result != 0)
            throw new CudaException(call + " failed: " + errorString(result) + " (ncclResult " + result + ")");
    }

    private static String errorString(int result) {
        try {
            return ((MemorySegment) ncclGetErrorString.invokeExact(result))
                    .reinterpret(Long.MAX_VALUE)
                    .getString(0);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int ncclGetVersion(MemorySegment version) {
        try {
            return (int) ncclGetVersion.invokeExact(version);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int ncclGetUniqueId(MemorySegment uniqueId) {
        try {
            return (int) ncclGetUniqueId.invokeExact(uniqueId);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int ncclCommInitRank(MemorySegment comm, int ranks, MemorySegment uniqueId, int rank) {
        try {
            return (int) ncclCommInitRank.invokeExact(comm, ranks, uniqueId, rank);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int ncclAllReduce(
            long send, long receive, long count, int dataType, int op, MemorySegment comm, MemorySegment stream) {
        try {
            return (int) ncclAllReduce.invokeExact(send, receive, count, dataType, op, comm, stream);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int ncclCommDestroy(MemorySegment comm) {
        try {
            return (int) ncclCommDestroy.invokeExact(comm);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    /** One communicator per listed device ({@code devices}: int[n]) in this process, written into {@code comms}. */
    public static int ncclCommInitAll(MemorySegment comms, int n, MemorySegment devices) {
        try {
            return (int) ncclCommInitAll.invokeExact(comms, n, devices);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int ncclBroadcast(
            long send, long receive, long count, int dataType, int root, MemorySegment comm, MemorySegment stream) {
        try {
            return (int) ncclBroadcast.invokeExact(send, receive, count, dataType, root, comm, stream);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int ncclGroupStart() {
        try {
            return (int) ncclGroupStart.invokeExact();
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int ncclGroupEnd() {
        try {
            return (int) ncclGroupEnd.invokeExact();
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }

    public static int ncclCommAbort(MemorySegment comm) {
        try {
            return (int) ncclCommAbort.invokeExact(comm);
        } catch (Throwable t) {
            throw NativeLibrary.downcallFailed(t);
        }
    }
}

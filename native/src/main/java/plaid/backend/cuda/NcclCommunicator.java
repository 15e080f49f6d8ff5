package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import plaid.backend.Tensor;
import plaid.backend.cuda.bind.Nccl;

/**
 * One rank of an NCCL communicator over a {@link CudaBackend}'s device and stream: the
 * gradient all-reduce of data-parallel training. Ranks share the id that rank 0 makes with
 * {@link #newUniqueId()} (in one process: hand it over; across processes: send its bytes).
 */
public final class NcclCommunicator implements AutoCloseable {
    private final CudaBackend backend;
    private final MemorySegment comm;
    private final int ranks;
    private final int rank;

    private NcclCommunicator(CudaBackend backend, MemorySegment comm, int ranks, int rank) {
        this.backend = backend;
        this.comm = comm;
        this.ranks = ranks;
        this.rank = rank;
    }

    /** NCCL's version code, e.g. 22703 for 2.27.3. */
    public static int version() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(JAVA_INT);
            Nccl.check(Nccl.ncclGetVersion(v), "ncclGetVersion");
            return v.get(JAVA_INT, 0);
        }
    }

    /** A fresh communicator id (its 128 bytes), made by one rank and given to all. */
    public static byte[] newUniqueId() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment id = arena.allocate(Nccl.UNIQUE_ID);
            Nccl.check(Nccl.ncclGetUniqueId(id), "ncclGetUniqueId");
            return id.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
    }

    /** Joins communicator {@code uniqueId} as {@code rank} of {@code ranks}; blocks until all ranks have joined. */
    public static NcclCommunicator join(CudaBackend backend, byte[] uniqueId, int ranks, int rank) {
        if (uniqueId.length != Nccl.UNIQUE_ID.byteSize())
            throw new IllegalArgumentException("an NCCL id has 128 bytes, got " + uniqueId.length);
        if (rank < 0 || rank >= ranks)
            throw new IllegalArgumentException("rank " + rank + " outside [0, " + ranks + ")");
        backend.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment commOut = arena.allocate(ADDRESS);
            MemorySegment id = arena.allocate(Nccl.UNIQUE_ID);
            id.copyFrom(MemorySegment.ofArray(uniqueId));
            Nccl.check(Nccl.ncclCommInitRank(commOut, ranks, id, rank), "ncclCommInitRank");
            return new NcclCommunicator(backend, commOut.get(ADDRESS, 0), ranks, rank);
        }
    }

    /**
     * One communicator per backend, rank i on {@code backends.get(i)}'s device: the single-process
     * multi-GPU set-up (ncclCommInitAll). The backends must be on distinct devices.
     */
    public static java.util.List<NcclCommunicator> initAll(java.util.List<CudaBackend> backends) {
        int n = backends.size();
        if (n == 0) throw new IllegalArgumentException("no backends");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment comms = arena.allocate(ADDRESS, n);
            MemorySegment devices = arena.allocate(JAVA_INT, n);
            for (int i = 0; i < n; i++)
                devices.setAtIndex(JAVA_INT, i, backends.get(i).options().device());
            backends.get(0).makeCurrent();
            Nccl.check(Nccl.ncclCommInitAll(comms, n, devices), "ncclCommInitAll");
            java.util.List<NcclCommunicator> out = new java.util.ArrayList<>();
            for (int i = 0; i < n; i++)
                out.add(new NcclCommunicator(backends.get(i), comms.getAtIndex(ADDRESS, i), n, i));
            return out;
        }
    }

    CudaBackend backend() {
        return backend;
    }

    /** ncclAllReduce of {@code count} values of {@code dataType} at device addresses, queued on {@code stream}. */
    void allReduce(long send, long receive, long count, int dataType, int op, MemorySegment stream) {
        backend.makeCurrent();
        Nccl.check(Nccl.ncclAllReduce(send, receive, count, dataType, op, comm, stream), "ncclAllReduce");
    }

    /** {@code root}'s {@code t} into every rank's, queued on {@code stream}. */
    void broadcast(Tensor t, int root, MemorySegment stream) {
        CudaTensor c = CudaBackend.cuda(t);
        backend.makeCurrent();
        Nccl.check(
                Nccl.ncclBroadcast(c.address(), c.address(), c.numel(), Nccl.NCCL_FLOAT32, root, comm, stream),
                "ncclBroadcast");
    }

    /** Ends the communicator's operations in flight (a rank failed); close still releases it. */
    void abort() {
        Nccl.check(Nccl.ncclCommAbort(comm), "ncclCommAbort");
    }

    public int ranks() {
        return ranks;
    }

    public int rank() {
        return rank;
    }

    /** {@code out = Σ_ranks in}, queued on the backend's stream ({@code in} and {@code out} may be the same tensor). */
    public void allReduceSum(Tensor in, Tensor out) {
        CudaTensor send = CudaBackend.cuda(in), receive = CudaBackend.cuda(out);
        if (send.numel() != receive.numel())
            throw new IllegalArgumentException(
                    "all-reduce of " + send.numel() + " into " + receive.numel() + " values");
        backend.makeCurrent();
        Nccl.check(
                Nccl.ncclAllReduce(
                        send.address(),
                        receive.address(),
                        send.numel(),
                        Nccl.NCCL_FLOAT32,
                        Nccl.NCCL_SUM,
                        comm,
                        backend.stream()),
                "ncclAllReduce");
    }

    @Override
    public void close() {
        backend.makeCurrent();
        Nccl.check(Nccl.ncclCommDestroy(comm), "ncclCommDestroy");
    }
}

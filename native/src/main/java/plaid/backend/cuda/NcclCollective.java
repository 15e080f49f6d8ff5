package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;
import plaid.backend.Collective;
import plaid.backend.Tensor;
import plaid.backend.cuda.bind.CudaDriver;
import plaid.backend.cuda.bind.Nccl;

/**
 * {@link Collective} over NCCL: one rank per GPU, each with its {@link CudaBackend}. Every NCCL
 * call of a rank goes on its communication stream ({@link CommStream}), after the compute work
 * queued before it; a bucket's all-reduce therefore runs on the device while the backward's later
 * kernels do, and {@link Pending#await} only orders the compute stream's later work (the grad
 * norm, the optimiser) after it, without a host wait. Broadcasts and host values are ordered
 * both ways at once. A bucket is one NCCL group (one launch for its tensors); ncclAvg gives the
 * mean. Host values go through a small device buffer in float64.
 */
public final class NcclCollective implements Collective {
    private final NcclCommunicator comm;
    private final CudaBackend backend;
    private final CommStream stream;
    /** float64 scratch for host values, 2 floats per double; grown on demand. */
    private Tensor hostScratch;

    private boolean aborted;

    public NcclCollective(NcclCommunicator comm) {
        this.comm = comm;
        this.backend = comm.backend();
        this.stream = new CommStream(backend);
    }

    /** One rank per backend (distinct GPUs of this process), through ncclCommInitAll. */
    public static List<Collective> group(List<CudaBackend> backends) {
        return NcclCommunicator.initAll(backends).stream()
                .<Collective>map(NcclCollective::new)
                .toList();
    }

    /**
     * This process's ranks {@code firstRank ..} of a world of {@code worldSize} spread over
     * processes (one per machine): ncclCommInitRank with the id one process made ({@link
     * NcclCommunicator#newUniqueId}), in one NCCL group so one thread can join several GPUs.
     * Blocks until every rank of the world has joined.
     */
    public static List<Collective> join(List<CudaBackend> backends, byte[] uniqueId, int firstRank, int worldSize) {
        List<Collective> ranks = new java.util.ArrayList<>();
        boolean group = backends.size() > 1;
        if (group) Nccl.check(Nccl.ncclGroupStart(), "ncclGroupStart");
        try {
            for (int i = 0; i < backends.size(); i++)
                ranks.add(
                        new NcclCollective(NcclCommunicator.join(backends.get(i), uniqueId, worldSize, firstRank + i)));
        } finally {
            if (group) Nccl.check(Nccl.ncclGroupEnd(), "ncclGroupEnd");
        }
        return List.copyOf(ranks);
    }

    @Override
    public int rank() {
        return comm.rank();
    }

    @Override
    public int ranks() {
        return comm.ranks();
    }

    private static int op(Op op) {
        return op == Op.MEAN ? Nccl.NCCL_AVG : Nccl.NCCL_SUM;
    }

    @Override
    public Pending allReduceAsync(List<Tensor> bucket, Op op) {
        if (bucket.isEmpty()) return Pending.DONE;
        stream.startBucket();
        boolean group = bucket.size() > 1;
        if (group) Nccl.check(Nccl.ncclGroupStart(), "ncclGroupStart");
        try {
            for (Tensor t : bucket) {
                CudaTensor c = CudaBackend.cuda(t);
                comm.allReduce(c.address(), c.address(), c.numel(), Nccl.NCCL_FLOAT32, op(op), stream.handle());
            }
        } finally {
            if (group) Nccl.check(Nccl.ncclGroupEnd(), "ncclGroupEnd");
        }
        long number = stream.endBucket();
        return () -> stream.awaitBucket(number);
    }

    @Override
    public Optional<ReductionTimes> takeReductionTimes() {
        return Optional.of(stream.takeTimes());
    }

    @Override
    public double[] allReduce(double[] values, Op op) {
        if (values.length == 0) return new double[0];
        if (hostScratch == null || hostScratch.numel() < 2L * values.length)
            hostScratch = backend.allocate(2 * values.length);
        long address = CudaBackend.cuda(hostScratch).address();
        long bytes = (long) values.length * Double.BYTES;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocateFrom(JAVA_DOUBLE, values);
            // all on the comm stream, after the compute queued so far (the scratch's zero fill
            // included); the host waits for the result
            stream.commAfterCompute();
            CudaDriver.check(
                    CudaDriver.cuMemcpyHtoDAsync(address, host, bytes, stream.handle()), "cuMemcpyHtoDAsync_v2");
            comm.allReduce(address, address, values.length, Nccl.NCCL_FLOAT64, op(op), stream.handle());
            stream.synchronize();
        }
        double[] out = new double[values.length];
        backend.makeCurrent();
        CudaDriver.check(CudaDriver.cuMemcpyDtoHHeap(MemorySegment.ofArray(out), address, bytes), "cuMemcpyDtoH_v2");
        return out;
    }

    @Override
    public void broadcast(Tensor t, int root) {
        if (root < 0 || root >= ranks())
            throw new IllegalArgumentException("broadcast root " + root + " outside [0, " + ranks() + ")");
        stream.commAfterCompute();
        comm.broadcast(t, root, stream.handle());
        stream.computeAfterComm();
    }

    @Override
    public void barrier() {
        allReduce(new double[] {0}, Op.SUM);
    }

    @Override
    public void abort(Throwable cause) {
        if (aborted) return;
        aborted = true;
        comm.abort();
    }

    @Override
    public void close() {
        if (!aborted) {
            stream.synchronize(); // the communicator's work in flight ends before it is destroyed
            comm.close();
        }
        stream.close();
    }
}

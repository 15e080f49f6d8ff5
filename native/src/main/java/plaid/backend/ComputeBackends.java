package plaid.backend;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import plaid.backend.cpu.CpuBackend;
import plaid.backend.cuda.CudaBackend;
import plaid.backend.cuda.CudaOptions;
import plaid.backend.cuda.NcclCollective;

/** Picks a {@link ComputeBackend} by name: "cpu", "cuda", or "auto" (CUDA when usable, else the CPU). */
public final class ComputeBackends {
    private ComputeBackends() {}

    /** The system property that names the backend of {@link #fromSystemProperty()}. */
    public static final String PROPERTY = "plaid.backend";

    /**
     * @throws BackendException for "cuda" on a machine without a usable GPU (the message says what is missing)
     * @throws IllegalArgumentException for an unknown name
     */
    public static ComputeBackend create(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "cpu" -> new CpuBackend();
            case "cuda" -> new CudaBackend();
            case "auto" ->
                CudaBackend.unavailableReason()
                        .<ComputeBackend>map(reason -> {
                            // a deployment that expected the GPU reads here why it did not get it (CudaBackend logs
                            // what it loaded)
                            System.getLogger(ComputeBackends.class.getName())
                                    .log(
                                            System.Logger.Level.INFO,
                                            "CUDA backend unavailable (" + reason + "); using the CPU backend");
                            return new CpuBackend();
                        })
                        .orElseGet(CudaBackend::new);
            default ->
                throw new IllegalArgumentException(
                        "unknown compute backend '" + name + "': expected cpu, cuda or auto");
        };
    }

    /** The backend {@code -Dplaid.backend} names, the CPU when it is unset. */
    public static ComputeBackend fromSystemProperty() {
        return create(System.getProperty(PROPERTY, "cpu"));
    }

    /**
     * {@code ranks} backends for data-parallel ranks: for "cuda" (or "auto" with a GPU) rank r on
     * device {@code first + r}, {@code first} being {@code -Dplaid.cuda.device}; otherwise N CPU backends.
     */
    public static List<ComputeBackend> createRanks(String name, int ranks) {
        if (ranks < 1) throw new IllegalArgumentException("ranks must be ≥ 1, got " + ranks);
        List<ComputeBackend> out = new ArrayList<>();
        ComputeBackend first = create(name);
        out.add(first);
        try {
            for (int r = 1; r < ranks; r++) {
                if (first instanceof CudaBackend cuda) {
                    CudaOptions o = cuda.options();
                    out.add(new CudaBackend(o.withDevice(o.device() + r)));
                } else {
                    out.add(new CpuBackend());
                }
            }
        } catch (RuntimeException e) {
            for (ComputeBackend b : out) b.close();
            throw e;
        }
        return out;
    }

    /**
     * The collective for these ranks: NCCL when they are CUDA backends, else the in-process
     * reference ({@link InProcessCollective}, N CPU ranks in this JVM).
     */
    public static List<Collective> collective(List<? extends ComputeBackend> backends) {
        if (backends.stream().allMatch(b -> b instanceof CudaBackend))
            return NcclCollective.group(
                    backends.stream().map(b -> (CudaBackend) b).toList());
        if (backends.stream().anyMatch(b -> b instanceof CudaBackend))
            throw new IllegalArgumentException("ranks mix CUDA and other backends");
        return InProcessCollective.group(backends);
    }

    /** Whether backend {@code name} gives CUDA ranks here ("cuda", or "auto" where there is a GPU). */
    public static boolean isCuda(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.equals("cuda")
                || n.equals("auto") && CudaBackend.unavailableReason().isEmpty();
    }

    /** Whether these ranks are CUDA ranks (their collectives are NCCL's). */
    public static boolean isCuda(List<? extends ComputeBackend> backends) {
        return !backends.isEmpty() && backends.stream().allMatch(b -> b instanceof CudaBackend);
    }

    /** A fresh NCCL unique id for a world spanning processes; made by one process, given to all. */
    public static byte[] newNcclUniqueId() {
        return plaid.backend.cuda.NcclCommunicator.newUniqueId();
    }

    /**
     * This process's CUDA ranks {@code firstRank ..} of a world of {@code worldSize} spanning
     * processes, through NCCL (ncclCommInitRank on {@code uniqueId}); blocks until all have joined.
     */
    public static List<Collective> ncclWorld(
            List<? extends ComputeBackend> backends, byte[] uniqueId, int firstRank, int worldSize) {
        if (!isCuda(backends)) throw new IllegalArgumentException("an NCCL world needs CUDA ranks");
        return NcclCollective.join(
                backends.stream().map(b -> (CudaBackend) b).toList(), uniqueId, firstRank, worldSize);
    }
}

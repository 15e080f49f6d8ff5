package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import plaid.backend.cuda.bind.CudaDriver;

/**
 * The kernels of one CUDA context: each source file becomes a module on the first launch of
 * one of its kernels, and every function handle is looked up once.
 */
final class KernelLibrary implements AutoCloseable {
    private final int computeCapability;
    private final Map<String, MemorySegment> modules = new HashMap<>();
    private final Map<Kernel, MemorySegment> functions = new EnumMap<>(Kernel.class);

    /** @param computeCapability major·10 + minor, e.g. 90 for sm_90 */
    KernelLibrary(int computeCapability) {
        this.computeCapability = computeCapability;
    }

    /** Whether the kernel's module is loaded and its function found (a later {@link #function} loads nothing). */
    synchronized boolean loaded(Kernel kernel) {
        return functions.containsKey(kernel);
    }

    /** The kernel's CUfunction; the caller has made the context current. */
    synchronized MemorySegment function(Kernel kernel) {
        MemorySegment function = functions.get(kernel);
        if (function != null) return function;
        MemorySegment module = modules.computeIfAbsent(kernel.source, this::loadModule);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(ADDRESS);
            CudaDriver.check(
                    CudaDriver.cuModuleGetFunction(slot, module, arena.allocateFrom(kernel.symbol())),
                    "cuModuleGetFunction(" + kernel.symbol() + ")");
            function = slot.get(ADDRESS, 0);
        }
        functions.put(kernel, function);
        return function;
    }

    private MemorySegment loadModule(String source) {
        byte[] cubin = KernelCompiler.cubin(source, computeCapability);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(ADDRESS);
            CudaDriver.check(
                    CudaDriver.cuModuleLoadData(slot, arena.allocateFrom(JAVA_BYTE, cubin)),
                    "cuModuleLoadData(" + source + ")");
            return slot.get(ADDRESS, 0);
        }
    }

    @Override
    public synchronized void close() {
        for (MemorySegment module : modules.values()) CudaDriver.cuModuleUnload(module);
        modules.clear();
        functions.clear();
    }
}

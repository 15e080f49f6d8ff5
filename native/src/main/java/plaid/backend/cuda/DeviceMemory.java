package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import plaid.backend.cuda.bind.CudaDriver;

/**
 * A backend's device memory and its accounting: tensor allocations, freed when the last tensor
 * viewing one becomes unreachable or at {@link #close()}; reusable scratch buffers; device copies
 * of the small host arrays kernels read; every byte counted in {@link #allocatedBytes()}. Inside a
 * {@link CapturedStep}, allocations and frees are refused and the small arrays go to the step's arena.
 */
final class DeviceMemory {
    private static final Cleaner CLEANER = Cleaner.create();
    /** Distinct argument arrays kept on the device (see {@link StagedArrays}). */
    private static final int MAX_STAGED_ARRAYS = 256;

    private final CudaDevice device;
    private final OpProfile profile;
    private final StepCapture steps;
    /** Tensor allocations not yet freed, address → bytes; {@link #release} and {@link #close} each free an address once. */
    private final Map<Long, Long> liveAllocations = new ConcurrentHashMap<>();

    private final AtomicLong allocatedBytes = new AtomicLong();
    private final AtomicLong peakAllocatedBytes = new AtomicLong();
    private final StagedArrays stagedArrays = new StagedArrays();
    private final Object lifecycle = new Object();
    private boolean closed;

    /**
     * Per device: held by a step's capture and around every free. A free synchronises the context, which breaks
     * any capture on it, and the backends of one device share its primary context: a second backend's frees (its
     * cleaner's, on another thread) must wait for this one's capture as much as this one's own.
     */
    private static final Map<Integer, Object> CONTEXT_FREES = new ConcurrentHashMap<>();

    private final Object contextFrees;

    DeviceMemory(CudaDevice device, OpProfile profile, StepCapture steps) {
        this.device = device;
        this.profile = profile;
        this.steps = steps;
        this.contextFrees = CONTEXT_FREES.computeIfAbsent(device.ordinal, ordinal -> new Object());
    }

    /** A tensor allocation, freed once unreachable. */
    CudaTensor.Allocation allocateFloats(long floats) {
        if (floats == 0) return new CudaTensor.Allocation(0, 0);
        long bytes = floats * Float.BYTES;
        long address = alloc(bytes);
        liveAllocations.put(address, bytes);
        CudaTensor.Allocation allocation = new CudaTensor.Allocation(address, floats);
        CLEANER.register(allocation, () -> release(address));
        return allocation;
    }

    /** Frees an unreachable allocation (on the cleaner's thread) unless close() already did. */
    private void release(long address) {
        synchronized (lifecycle) {
            Long bytes = liveAllocations.remove(address);
            if (bytes == null) return;
            device.bind();
            // kernels queued before the last reference was dropped may still be reading it
            free(address, bytes);
        }
    }

    long alloc(long bytes) {
        steps.refuse("allocates device memory");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(JAVA_LONG);
            int result = CudaDriver.cuMemAlloc(slot, bytes);
            if (result == CudaDriver.CUDA_ERROR_OUT_OF_MEMORY && reclaimUnreachable())
                result = CudaDriver.cuMemAlloc(slot, bytes);
            CudaDriver.check(result, "cuMemAlloc_v2(" + bytes + " bytes)");
            peakAllocatedBytes.accumulateAndGet(allocatedBytes.addAndGet(bytes), Math::max);
            return slot.get(JAVA_LONG, 0);
        }
    }

    /**
     * Tensors are freed when the garbage collector finds them unreachable, which a small Java heap
     * may not do for a long time while device memory runs out (a sampler whose batch changes its row
     * count drops its activations every few steps): collects, and waits for the cleaner to free what
     * was found. True when something was freed.
     */
    private boolean reclaimUnreachable() {
        long before = allocatedBytes.get();
        System.gc();
        long last = before;
        for (int quietPolls = 0, polls = 0; quietPolls < 3 && polls < 200; polls++) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            long now = allocatedBytes.get();
            quietPolls = now == last && now < before ? quietPolls + 1 : 0;
            last = now;
        }
        return allocatedBytes.get() < before;
    }

    /** Frees after all queued work, which may still read the memory. */
    void free(long address, long bytes) {
        steps.refuse("frees device memory");
        synchronized (contextFrees) {
            CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
            CudaDriver.check(CudaDriver.cuMemFree(address), "cuMemFree_v2");
        }
        allocatedBytes.addAndGet(-bytes);
    }

    long allocatedBytes() {
        return allocatedBytes.get();
    }

    long peakAllocatedBytes() {
        return peakAllocatedBytes.get();
    }

    void resetPeakAllocatedBytes() {
        peakAllocatedBytes.set(allocatedBytes.get());
    }

    /** A new scratch buffer of this memory. */
    Scratch scratch() {
        return new Scratch();
    }

    /** A device buffer that grows to the largest request and is reused across calls; one thread queues work at a time. */
    final class Scratch {
        private long address;
        private long capacity;

        /** Device address of at least {@code bytes} bytes; earlier contents are lost. */
        long reserve(long bytes) {
            if (bytes > capacity) {
                free();
                address = alloc(bytes);
                capacity = bytes;
            }
            return address;
        }

        long address() {
            return address;
        }

        void free() {
            if (address == 0) return;
            DeviceMemory.this.free(address, capacity);
            address = 0;
            capacity = 0;
        }
    }

    /**
     * Each array's device address; the arrays may be changed afterwards. A synchronous copy into
     * this memory's own buffers, not onto the stream: it writes no tensor, so it ends no bf16 hand-over.
     */
    long[] stage(int[]... arrays) {
        long[] addresses = new long[arrays.length];
        boolean inStep = steps.recording();
        for (int i = 0; i < arrays.length; i++) {
            if (inStep) {
                addresses[i] = steps.stage(arrays[i]);
            } else {
                steps.measure((long) arrays[i].length * Integer.BYTES);
                addresses[i] = stagedArrays.deviceCopy(arrays[i]);
            }
        }
        return addresses;
    }

    /** Floats travel through {@link #stage} as their bit patterns. */
    static int[] bits(float[] values) {
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) bits[i] = Float.floatToRawIntBits(values[i]);
        return bits;
    }

    /** {@code count} doubles from the device (waits for the work before them). */
    double[] downloadDoubles(long address, int count) {
        steps.refuse("reads a result back to the host");
        long start = profile.start();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_DOUBLE, count);
            CudaDriver.check(CudaDriver.cuMemcpyDtoH(host, address, (long) count * Double.BYTES), "cuMemcpyDtoH_v2");
            return host.toArray(JAVA_DOUBLE);
        } finally {
            profile.stop("download", start);
        }
    }

    /** An int array compared by content, as a map key. */
    record ArrayKey(int[] values) {
        @Override
        public boolean equals(Object other) {
            return other instanceof ArrayKey(int[] otherValues) && Arrays.equals(values, otherValues);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(values);
        }
    }

    /**
     * Device copies of the small arrays kernels read, keyed by content. A copy from pageable host
     * memory first waits for all queued work, and the model passes the same segment bounds and
     * rotary frequencies to every layer: each distinct array uploads once, and the least recently
     * used copies beyond {@value #MAX_STAGED_ARRAYS} are freed.
     */
    private final class StagedArrays {
        private final LinkedHashMap<ArrayKey, Long> copies = new LinkedHashMap<>(16, 0.75f, true);

        synchronized long deviceCopy(int[] values) {
            ArrayKey key = new ArrayKey(values);
            Long cached = copies.get(key);
            if (cached != null) return cached;
            long start = profile.start();
            long bytes = Math.max(1, values.length) * (long) Integer.BYTES;
            long address = alloc(bytes);
            try (Arena arena = Arena.ofConfined()) {
                if (values.length > 0) {
                    CudaDriver.check(
                            CudaDriver.cuMemcpyHtoD(address, arena.allocateFrom(JAVA_INT, values), bytes),
                            "cuMemcpyHtoD_v2");
                }
            }
            copies.put(new ArrayKey(values.clone()), address);
            if (copies.size() > MAX_STAGED_ARRAYS) {
                var eldest = copies.entrySet().iterator().next();
                DeviceMemory.this.free(eldest.getValue(), sizeOf(eldest.getKey()));
                copies.remove(eldest.getKey());
            }
            profile.stop("stage arguments", start);
            return address;
        }

        synchronized void free() {
            copies.forEach((key, address) -> DeviceMemory.this.free(address, sizeOf(key)));
            copies.clear();
        }

        private static long sizeOf(ArrayKey key) {
            return Math.max(1, key.values().length) * (long) Integer.BYTES;
        }
    }

    /**
     * Runs {@code capture} while no other thread frees memory of this device, through this backend or another: a
     * free synchronises the context, which would break a stream capture (the cleaners' frees wait meanwhile).
     */
    <T> T holdingFrees(java.util.function.Supplier<T> capture) {
        synchronized (contextFrees) {
            return capture.get();
        }
    }

    /** Runs {@code release} (a cleaner's) with the context current, unless {@link #close} has freed everything. */
    void unlessClosed(Runnable release) {
        synchronized (lifecycle) {
            if (closed) return;
            device.bind();
            release.run();
        }
    }

    /**
     * Runs {@code releaseTheRest} (the scratch buffers, kernels, handles), once, after freeing every
     * tensor allocation and staged array; later calls do nothing.
     */
    void close(Runnable releaseTheRest) {
        synchronized (lifecycle) {
            if (closed) return;
            closed = true;
            synchronized (contextFrees) { // not while another backend of the device captures a step
                device.synchronizeAll();
                for (Long address : liveAllocations.keySet()) CudaDriver.cuMemFree(address);
                liveAllocations.clear();
                stagedArrays.free();
                releaseTheRest.run();
            }
        }
    }
}

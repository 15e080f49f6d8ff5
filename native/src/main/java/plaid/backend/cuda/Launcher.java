package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.function.Supplier;
import plaid.backend.cuda.bind.CudaDriver;

/**
 * The one place that queues device work: kernels, library calls (the GEMMs), and the uploads,
 * fills and copies that write tensors. It counts every operation it queues, which is what lets a
 * {@link Bf16Handoff} know that nothing was queued between the op that made a bf16 copy and the op
 * taking it; no op has to remember to say so. Each operation is also timed when profiling is on.
 * Inside a {@link CapturedStep} each operation is traced, and captured or checked ({@link StepCapture}).
 */
final class Launcher {
    /** Threads per block, equal to BLOCK in common.cuh (a kernel may ask for another count: Kernel.threads). */
    static final int BLOCK = 256;
    /** Cap on an element-wise grid; the kernels' grid-stride loops cover the rest. */
    private static final long MAX_ELEMENTWISE_BLOCKS = 1 << 16;
    /**
     * Dynamic shared memory a block may ask for without opting in: 48 KiB less the BLOCK doubles
     * of block_reduce's scratch (attention keeps one or two doubles per segment member there).
     */
    private static final int MAX_DYNAMIC_SHARED_BYTES = 48 * 1024 - BLOCK * Double.BYTES;

    private static final int MAX_KERNEL_PARAMETERS = 16;
    /** Per thread: the parameter pointers and values of a launch (8 bytes each). */
    private static final ThreadLocal<MemorySegment> LAUNCH_SCRATCH = ThreadLocal.withInitial(
            () -> Arena.ofAuto().allocate(MAX_KERNEL_PARAMETERS * (ADDRESS.byteSize() + Long.BYTES), Long.BYTES));
    /**
     * Bytes per critical copy between a Java array and the device: the copies read and write the
     * array in place (no staging buffer), and the garbage collector waits for each chunk.
     */
    private static final long HEAP_COPY_CHUNK_BYTES = 64L << 20;

    private final CudaDevice device;
    private final KernelLibrary kernels;
    private final OpProfile profile;
    private final StepCapture steps;
    private long queued;

    Launcher(CudaDevice device, KernelLibrary kernels, OpProfile profile, StepCapture steps) {
        this.device = device;
        this.kernels = kernels;
        this.profile = profile;
        this.steps = steps;
    }

    /** How many operations were queued so far: it changes with every one. */
    long queued() {
        return queued;
    }

    /**
     * A device call that queues one operation (a cuBLAS or cuBLASLt product), counted and timed under
     * {@code profileKey}; {@code fingerprint} holds everything that decides what it does (pointers, sizes,
     * scalars, the plan), which a step's replay checks instead of making the call; {@code what} names it, should
     * it break a capture.
     */
    void queue(String profileKey, long[] fingerprint, Runnable call, Supplier<String> what) {
        if (steps.recording()) {
            steps.trace().put(StepTrace.LIBRARY_CALL);
            steps.trace().putAll(fingerprint);
            if (steps.replaying()) {
                queued++;
                return;
            }
        }
        long start = profile.start();
        steps.library(call, what, device.stream());
        queued++;
        profile.stop(profileKey, start);
    }

    /**
     * Queues a kernel. Arguments are passed by value in the kernel's parameter order: tensors as
     * their device address, Long as long long or a raw device address, Integer, Float, Double,
     * and Boolean as int.
     */
    void launch(Kernel kernel, long gridX, int gridY, long sharedBytes, Object... parameters) {
        if (sharedBytes > MAX_DYNAMIC_SHARED_BYTES) {
            throw new CudaException(kernel.symbol() + " needs " + sharedBytes
                    + " bytes of shared memory, more than the " + MAX_DYNAMIC_SHARED_BYTES
                    + " available (segments too long for these simple attention kernels)");
        }
        if (parameters.length > MAX_KERNEL_PARAMETERS)
            throw new IllegalArgumentException(
                    kernel.symbol() + ": more than " + MAX_KERNEL_PARAMETERS + " parameters");
        if (steps.recording()) {
            StepTrace trace = steps.trace();
            trace.put(StepTrace.LAUNCH | kernel.ordinal());
            trace.put(gridX);
            trace.put(gridY);
            trace.put(sharedBytes);
            trace.put(parameters.length);
            for (Object parameter : parameters) trace.put(bits(kernel, parameter));
            if (steps.replaying()) {
                queued++;
                return;
            }
        }
        // a module loads outside captures (the measured direct run before one loads the step's): not in a graph
        if (steps.capturing() && !kernels.loaded(kernel))
            steps.refuse("first launches " + kernel.symbol() + ", whose module would load in the capture");
        device.bind();
        long start = profile.start();
        // cuLaunchKernel copies the values before it returns, so one scratch buffer per thread serves every launch
        MemorySegment scratch = LAUNCH_SCRATCH.get();
        MemorySegment pointers = scratch.asSlice(0, MAX_KERNEL_PARAMETERS * ADDRESS.byteSize());
        MemorySegment values =
                scratch.asSlice(MAX_KERNEL_PARAMETERS * ADDRESS.byteSize(), MAX_KERNEL_PARAMETERS * Long.BYTES);
        for (int i = 0; i < parameters.length; i++) {
            MemorySegment value = values.asSlice((long) i * Long.BYTES, Long.BYTES);
            switch (parameters[i]) {
                case CudaTensor t -> value.set(JAVA_LONG, 0, t.address());
                case Long l -> value.set(JAVA_LONG, 0, l);
                case Integer n -> value.set(JAVA_INT, 0, n);
                case Float f -> value.set(JAVA_FLOAT, 0, f);
                case Double d -> value.set(JAVA_DOUBLE, 0, d);
                case Boolean b -> value.set(JAVA_INT, 0, b ? 1 : 0);
                default -> throw new IllegalArgumentException("cannot pass " + parameters[i] + " to a kernel");
            }
            pointers.setAtIndex(ADDRESS, i, value);
        }
        steps.check(
                CudaDriver.cuLaunchKernel(
                        kernels.function(kernel),
                        Math.toIntExact(gridX),
                        gridY,
                        1,
                        kernel.threads,
                        1,
                        1,
                        (int) sharedBytes,
                        device.stream(),
                        pointers,
                        MemorySegment.NULL),
                "cuLaunchKernel(" + kernel.symbol() + ")",
                device.stream());
        queued++;
        profile.stop(kernel.symbol(), start);
    }

    /** A kernel parameter's value as the trace of a step holds it. */
    private static long bits(Kernel kernel, Object parameter) {
        return switch (parameter) {
            case CudaTensor t -> t.address();
            case Long l -> l;
            case Integer n -> n;
            case Float f -> Float.floatToRawIntBits(f);
            case Double d -> Double.doubleToRawLongBits(d);
            case Boolean b -> b ? 1 : 0;
            default ->
                throw new IllegalArgumentException(kernel.symbol() + ": cannot pass " + parameter + " to a kernel");
        };
    }

    /** A kernel over {@code n} elements, whose first parameter is n (a grid-stride loop). */
    void elementwise(Kernel kernel, long n, Object... parameters) {
        if (n == 0) return;
        Object[] withCount = new Object[parameters.length + 1];
        withCount[0] = n;
        System.arraycopy(parameters, 0, withCount, 1, parameters.length);
        launch(kernel, Math.min((n + BLOCK - 1) / BLOCK, MAX_ELEMENTWISE_BLOCKS), 1, 0, withCount);
    }

    /** A kernel with one block per row. */
    void rowwise(Kernel kernel, long rows, Object... parameters) {
        if (rows == 0) return;
        launch(kernel, rows, 1, 0, parameters);
    }

    void upload(float[] src, CudaTensor dst) {
        device.bind();
        long bytes = dst.numel() * Float.BYTES;
        if (steps.recording()) {
            steps.upload(src, dst, device.stream());
            queued++;
            return;
        }
        steps.measure(bytes);
        long start = profile.start();
        MemorySegment host = MemorySegment.ofArray(src);
        for (long offset = 0; offset < bytes; offset += HEAP_COPY_CHUNK_BYTES) {
            long chunk = Math.min(HEAP_COPY_CHUNK_BYTES, bytes - offset);
            CudaDriver.check(
                    CudaDriver.cuMemcpyHtoDHeap(dst.address() + offset, host.asSlice(offset, chunk), chunk),
                    "cuMemcpyHtoD_v2");
        }
        queued++;
        profile.stop("upload", start);
    }

    /** Reads the tensor after the work before it; queues nothing. */
    float[] download(CudaTensor src) {
        steps.refuse("reads a tensor back to the host");
        device.bind();
        long start = profile.start();
        try {
            float[] values = new float[Math.toIntExact(src.numel())];
            MemorySegment host = MemorySegment.ofArray(values);
            long bytes = src.numel() * Float.BYTES;
            for (long offset = 0; offset < bytes; offset += HEAP_COPY_CHUNK_BYTES) {
                long chunk = Math.min(HEAP_COPY_CHUNK_BYTES, bytes - offset);
                CudaDriver.check(
                        CudaDriver.cuMemcpyDtoHHeap(host.asSlice(offset, chunk), src.address() + offset, chunk),
                        "cuMemcpyDtoH_v2");
            }
            return values;
        } finally {
            profile.stop("download", start);
        }
    }

    void fill(CudaTensor t, float value) {
        int bits = Float.floatToRawIntBits(value);
        if (steps.recording()) {
            StepTrace trace = steps.trace();
            trace.put(StepTrace.FILL);
            trace.put(t.address());
            trace.put(t.numel());
            trace.put(bits);
            queued++;
            if (steps.replaying()) return;
            // the synchronous memset runs on the legacy stream, which a capture cannot hold
            device.bind();
            steps.check(
                    CudaDriver.cuMemsetD32Async(t.address(), bits, t.numel(), device.stream()),
                    "a fill of " + t.numel() + " floats (cuMemsetD32Async)",
                    device.stream());
            return;
        }
        device.bind();
        long start = profile.start();
        CudaDriver.check(CudaDriver.cuMemsetD32(t.address(), bits, t.numel()), "cuMemsetD32_v2");
        queued++;
        profile.stop("fill", start);
    }

    void copy(CudaTensor src, CudaTensor dst) {
        long bytes = src.numel() * Float.BYTES;
        if (steps.recording()) {
            StepTrace trace = steps.trace();
            trace.put(StepTrace.COPY);
            trace.put(dst.address());
            trace.put(src.address());
            trace.put(bytes);
            queued++;
            if (steps.replaying()) return;
            device.bind();
            steps.check(
                    CudaDriver.cuMemcpyDtoDAsync(dst.address(), src.address(), bytes, device.stream()),
                    "a copy of " + bytes + " bytes (cuMemcpyDtoDAsync_v2)",
                    device.stream());
            return;
        }
        device.bind();
        long start = profile.start();
        CudaDriver.check(CudaDriver.cuMemcpyDtoD(dst.address(), src.address(), bytes), "cuMemcpyDtoD_v2");
        queued++;
        profile.stop("copy", start);
    }
}

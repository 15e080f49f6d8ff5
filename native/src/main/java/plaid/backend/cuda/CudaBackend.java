package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.ref.Cleaner;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import plaid.backend.ComputeBackend;
import plaid.backend.MatmulPrecision;
import plaid.backend.Segments;
import plaid.backend.Tensor;

/**
 * The backend on an NVIDIA GPU: cuBLAS GemmEx for the dense algebra, NVRTC-compiled kernels
 * ({@code plaid/kernels/*.cu}) for the rest, in fp32 with the reference's double accumulations
 * (attention accumulates in fp32 in its tiled kernels), so results agree with
 * {@link plaid.backend.cpu.CpuBackend} to rounding. {@link GemmPrecision} TF32 and BF16 trade
 * that agreement for tensor-core speed in the matrix products; BF16 also in the attention forward
 * and backward (attention_flash.cu, attention_flash_backward.cu).
 *
 * <p>Work is queued on one stream created with default flags, so it synchronises with the
 * legacy default stream that the synchronous cuMemcpy and cuMemset calls use: a copy waits
 * for the kernels before it and kernels after it wait for the copy, without explicit
 * synchronisation. Device memory is freed when the last tensor viewing it becomes unreachable,
 * or at {@link #close()}. The device is chosen by {@code -Dplaid.cuda.device} (default 0).
 *
 * <p>For measurements: {@link #allocatedBytes()} and {@link #peakAllocatedBytes()} count the
 * device memory this backend holds, and {@link #profileOps} times each operation.
 */
public final class CudaBackend implements ComputeBackend {
    /** Threads per block, equal to BLOCK in common.cuh (a kernel may ask for another count: Kernel.threads). */
    static final int BLOCK = 256;
    /** Cap on an element-wise grid; the kernels' grid-stride loops cover the rest. */
    private static final long MAX_ELEMENTWISE_BLOCKS = 1 << 16;
    /**
     * Dynamic shared memory a block may ask for without opting in: 48 KiB less the BLOCK doubles
     * of block_reduce's scratch (attention keeps one or two doubles per segment member there).
     */
    private static final int MAX_DYNAMIC_SHARED_BYTES = 48 * 1024 - BLOCK * Double.BYTES;
    /** Elements one block of a dot-product reduction covers before the work is split over more blocks. */
    private static final long DOT_ELEMENTS_PER_BLOCK = 16L * BLOCK;
    private static final int MAX_DOT_BLOCKS_PER_GROUP = 1024;
    /** Positions per block of the tiled attention kernels (OWNERS_PER_BLOCK in attention_tiled.cu). */
    private static final int ATTENTION_TILE = 64;
    /** The widest head and the head-dimension multiple the tiled attention kernels handle (MAX_HEAD_DIM, 4·LANES). */
    private static final int TILED_ATTENTION_MAX_HEAD_DIM = 64;
    private static final int TILED_ATTENTION_HEAD_DIM_MULTIPLE = 16;
    /** The largest grid y dimension: rows × heads of one attention launch. */
    private static final int MAX_GRID_Y = 65535;
    /** Distinct argument arrays kept on the device (see {@link StagedArrays}). */
    private static final int MAX_STAGED_ARRAYS = 256;

    private static final Cleaner CLEANER = Cleaner.create();

    private final int device;
    private final MemorySegment context;
    private final MemorySegment stream;
    private final MemorySegment cublas;
    /** cuBLASLt, for GEMMs whose bias or GELU it fuses into the product's epilogue. */
    private final MemorySegment cublasLt;
    private CudaTensor.Allocation ltWorkspace;
    private static final long LT_WORKSPACE_BYTES = 32L << 20;
    private final KernelLibrary kernels;
    /** Host arrays passed to kernels (ids, per-row factors, segment bounds), on the device. */
    private final StagedArrays stagedArrays = new StagedArrays();
    /** Device-only intermediates (partial sums, attention deltas). */
    private final DeviceBuffer workspace = new DeviceBuffer();
    /** The bf16 copies of a GEMM's operands in the bf16 mode (see {@link #bf16Operands(boolean)}). */
    private final DeviceBuffer bf16OperandA = new DeviceBuffer(), bf16OperandB = new DeviceBuffer();
    /** Bf16 copies passed from the op that wrote a tensor to the op right after it (see {@link Bf16Handoff}). */
    private final Bf16Handoff handoff = new Bf16Handoff();
    /** A block's activations in bf16 when no backward follows: qkv and the attention's output ({@link #attentionOnto}), the MLP's ({@link #mlpOnto}). */
    private final DeviceBuffer qkv16 = new DeviceBuffer(), attention16 = new DeviceBuffer(), mlpActivation16 = new DeviceBuffer();
    /** Tensor allocations not yet freed, address → bytes; {@link #release} and {@link #close} each free an address once. */
    private final Map<Long, Long> liveAllocations = new ConcurrentHashMap<>();
    private final AtomicLong allocatedBytes = new AtomicLong();
    private final AtomicLong peakAllocatedBytes = new AtomicLong();
    private final OpProfile profile = new OpProfile(this::synchronizeContext);
    private volatile GemmPrecision gemmPrecision = GemmPrecision.fromSystemProperty();
    private volatile boolean tiledAttention = true;
    private volatile boolean bf16Operands = !Boolean.getBoolean("plaid.cuda.bf16.fp32Operands");
    private volatile boolean flashAttention = !Boolean.getBoolean("plaid.cuda.bf16.fp32Attention");
    private volatile boolean flashAttentionFromBf16Copy = !Boolean.getBoolean("plaid.cuda.bf16.flashAttentionConvertsTiles");
    private volatile boolean bf16Activations = !Boolean.getBoolean("plaid.cuda.bf16.convertActivations");
    private final Object lifecycle = new Object();
    private boolean closed;

    // ---- availability -------------------------------------------------------------

    /** Why this machine cannot run the backend, probed once: missing libraries, no driver, no device. */
    private static final class Probe {
        static final String UNAVAILABLE_REASON = probe();

        private static String probe() {
            try {
                MethodHandles.lookup().ensureInitialized(Nvrtc.class);
                MethodHandles.lookup().ensureInitialized(Cublas.class);
                CudaDriver.check(CudaDriver.cuInit(0), "cuInit");
                deviceHandle(deviceOrdinal());
                return null;
            } catch (ExceptionInInitializerError e) {
                return e.getCause() != null ? e.getCause().getMessage() : e.toString();
            } catch (CudaException | IllegalAccessException | LinkageError e) {
                return e.getMessage();
            }
        }
    }

    /** Empty when a CUDA device and the libraries (driver, NVRTC, cuBLAS) are there; otherwise why not. */
    public static Optional<String> unavailableReason() {
        return Optional.ofNullable(Probe.UNAVAILABLE_REASON);
    }

    public static boolean isAvailable() {
        return Probe.UNAVAILABLE_REASON == null;
    }

    private static int deviceOrdinal() {
        return Integer.getInteger("plaid.cuda.device", 0);
    }

    private static int deviceHandle(int ordinal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(JAVA_INT);
            CudaDriver.check(CudaDriver.cuDeviceGet(slot, ordinal), "cuDeviceGet(" + ordinal + ")");
            return slot.get(JAVA_INT, 0);
        }
    }

    // ---- lifecycle ----------------------------------------------------------------

    /** @throws CudaException naming what is missing when {@link #isAvailable()} is false */
    public CudaBackend() {
        unavailableReason().ifPresent(reason -> {
            throw new CudaException("CUDA backend unavailable: " + reason);
        });
        device = deviceHandle(deviceOrdinal());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(ADDRESS);
            CudaDriver.check(CudaDriver.cuDevicePrimaryCtxRetain(slot, device), "cuDevicePrimaryCtxRetain");
            context = slot.get(ADDRESS, 0);
            bindContext();
            CudaDriver.check(CudaDriver.cuStreamCreate(slot, CudaDriver.CU_STREAM_DEFAULT), "cuStreamCreate");
            stream = slot.get(ADDRESS, 0);
            Cublas.check(Cublas.cublasCreate(slot), "cublasCreate_v2");
            cublas = slot.get(ADDRESS, 0);
            Cublas.check(Cublas.cublasSetStream(cublas, stream), "cublasSetStream_v2");
            Cublas.check(Cublas.cublasSetMathMode(cublas, Cublas.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
            CublasLt.check(CublasLt.create(slot), "cublasLtCreate");
            cublasLt = slot.get(ADDRESS, 0);
            kernels = new KernelLibrary(computeCapability(arena));
        }
    }

    private int computeCapability(Arena arena) {
        MemorySegment value = arena.allocate(JAVA_INT);
        CudaDriver.check(CudaDriver.cuDeviceGetAttribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device), "cuDeviceGetAttribute");
        int major = value.get(JAVA_INT, 0);
        CudaDriver.check(CudaDriver.cuDeviceGetAttribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device), "cuDeviceGetAttribute");
        return major * 10 + value.get(JAVA_INT, 0);
    }

    /** Makes this backend's context current on the calling thread; every entry point starts here. */
    private void bindContext() {
        CudaDriver.check(CudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    /** For the other CUDA libraries' calls (NCCL) on this backend's device. */
    void makeCurrent() {
        bindContext();
    }

    /** The stream all of this backend's work is queued on. */
    MemorySegment stream() {
        return stream;
    }

    @Override
    public String name() {
        return "cuda";
    }

    /** Waits for all queued work, reporting any error a kernel raised. */
    public void synchronize() {
        bindContext();
        CudaDriver.check(CudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    /** Waits for the stream and the legacy default stream that the memcpy calls use. */
    private void synchronizeContext() {
        bindContext();
        CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    // ---- modes and measurements ---------------------------------------------------

    public GemmPrecision gemmPrecision() {
        return gemmPrecision;
    }

    /** Switches the arithmetic of later {@link #gemm} calls. */
    public void gemmPrecision(GemmPrecision precision) {
        gemmPrecision = precision;
    }

    /**
     * Whether attention runs the tiled fp32 kernels (default) where the head dimension allows,
     * or always the per-query double kernels; off only to measure one against the other.
     */
    public void tiledAttention(boolean on) {
        tiledAttention = on;
    }

    /**
     * In the bf16 mode, whether GEMMs whose arithmetic outweighs their memory traffic round both
     * operands into bf16 copies and multiply those (bf16 × bf16 → fp32 through cuBLASLt, fp32
     * sums; default, or off with {@code -Dplaid.cuda.bf16.fp32Operands=true}), or always hand
     * cuBLAS the fp32 matrices to round on the fly (several times slower on an H200).
     */
    public void bf16Operands(boolean on) {
        bf16Operands = on;
    }

    /**
     * In the bf16 mode, whether attention runs on the tensor cores (attention_flash.cu and
     * attention_flash_backward.cu: bf16 products, fp32 softmax and sums; default, or off with
     * {@code -Dplaid.cuda.bf16.fp32Attention=true}) or as in the fp32 mode, forward and backward.
     */
    public void flashAttention(boolean on) {
        flashAttention = on;
    }

    /**
     * Which tensor-core forward: on (default), attention_forward_flash_bf16 on a bf16 copy of qkv
     * with its tiles copied asynchronously while the previous one is multiplied; off
     * ({@code -Dplaid.cuda.bf16.flashAttentionConvertsTiles=true}), attention_forward_flash, which
     * rounds each tile on its way into shared memory and waits for its loads.
     */
    public void flashAttentionFromBf16Copy(boolean on) {
        flashAttentionFromBf16Copy = on;
    }

    /**
     * In the bf16 mode, whether activations reach the tensor cores without a conversion pass (default,
     * or off with {@code -Dplaid.cuda.bf16.convertActivations=true}): the norms, the rotary and the flash
     * attention write a bf16 copy of their output for the op right after them ({@link Bf16Handoff}), and
     * an MLP with no backward after it keeps its activation in bf16 only ({@link #mlpOnto}).
     */
    public void bf16Activations(boolean on) {
        bf16Activations = on;
    }

    /** Device bytes this backend holds now: tensors, staged arguments and workspace. */
    public long allocatedBytes() {
        return allocatedBytes.get();
    }

    /**
     * The most {@link #allocatedBytes()} since creation or {@link #resetPeakAllocatedBytes()}.
     * Tensors are freed only after the garbage collector finds them unreachable, so garbage
     * not yet collected counts too.
     */
    public long peakAllocatedBytes() {
        return peakAllocatedBytes.get();
    }

    public void resetPeakAllocatedBytes() {
        peakAllocatedBytes.set(allocatedBytes.get());
    }

    /** Starts or stops timing every operation (see {@link OpProfile}: it slows the work down). */
    public void profileOps(boolean on) {
        profile.enable(on);
    }

    /** Time per operation while profiling was on since the last {@link #resetOpProfile()}, slowest first. */
    public List<OpTiming> opProfile() {
        return profile.entries();
    }

    public void resetOpProfile() {
        profile.reset();
    }

    @Override
    public void close() {
        synchronized (lifecycle) {
            if (closed) return;
            closed = true;
            bindContext();
            CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
            for (Long address : liveAllocations.keySet()) CudaDriver.cuMemFree(address);
            liveAllocations.clear();
            stagedArrays.free();
            workspace.free();
            bf16OperandA.free();
            bf16OperandB.free();
            handoff.free();
            qkv16.free();
            attention16.free();
            mlpActivation16.free();
            kernels.close();
            destroyLtPlans();
            ltArena.close();
            Cublas.cublasDestroy(cublas);
            CublasLt.destroy(cublasLt);
            CudaDriver.cuStreamDestroy(stream);
            CudaDriver.cuDevicePrimaryCtxRelease(device);
        }
    }

    // ---- memory -------------------------------------------------------------------

    private CudaTensor.Allocation allocateFloats(long floats) {
        if (floats == 0) return new CudaTensor.Allocation(0, 0);
        long bytes = floats * Float.BYTES;
        long address = deviceAlloc(bytes);
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
            bindContext();
            // kernels queued before the last reference was dropped may still be reading it
            deviceFree(address, bytes);
        }
    }

    private long deviceAlloc(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(JAVA_LONG);
            CudaDriver.check(CudaDriver.cuMemAlloc(slot, bytes), "cuMemAlloc_v2(" + bytes + " bytes)");
            peakAllocatedBytes.accumulateAndGet(allocatedBytes.addAndGet(bytes), Math::max);
            return slot.get(JAVA_LONG, 0);
        }
    }

    /** Frees after all queued work, which may still read the memory. */
    private void deviceFree(long address, long bytes) {
        CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
        CudaDriver.check(CudaDriver.cuMemFree(address), "cuMemFree_v2");
        allocatedBytes.addAndGet(-bytes);
    }

    /** A device buffer that grows to the largest request and is reused across calls. */
    private final class DeviceBuffer {
        long address;
        private long capacity;

        /** Device address of at least {@code bytes} bytes; earlier contents are lost. */
        long reserve(long bytes) {
            if (bytes > capacity) {
                free();
                address = deviceAlloc(bytes);
                capacity = bytes;
            }
            return address;
        }

        void free() {
            if (address == 0) return;
            deviceFree(address, capacity);
            address = 0;
            capacity = 0;
        }
    }

    /**
     * A bf16 copy of a tensor written by the op that wrote the tensor (the norms, the rotary, the flash
     * attention), for the op queued right after it, which would otherwise convert the tensor itself (a
     * bf16-operand GEMM, the flash attention): one pass over the activation fewer. Every queued device
     * operation is counted, and a copy is handed over only when nothing was queued since it was made,
     * so a write to the tensor in between cannot be missed. Two buffers, so that the op taking one copy
     * may make the next. Like the operand scratch, it assumes one thread queues work at a time.
     */
    private final class Bf16Handoff {
        private final DeviceBuffer first = new DeviceBuffer(), second = new DeviceBuffer();
        private long queued;
        private long madeAt = -1, address, elements, copy;

        /** Counts one queued device operation; every launch, product, copy and fill calls it. */
        void queued() {
            queued++;
        }

        /** Where the op about to be queued writes t's bf16 copy; 0 (none) unless the bf16 mode hands copies over. */
        long reserve(CudaTensor t) {
            if (gemmPrecision != GemmPrecision.BF16 || !bf16Activations) return 0;
            DeviceBuffer free = first.address == copy && copy != 0 ? second : first;
            return free.reserve(t.numel() * 2);
        }

        /** Records that the op just queued wrote t's bf16 copy at {@code copy} (0: it wrote none). */
        void made(CudaTensor t, long copy) {
            this.address = t.address();
            this.elements = t.numel();
            this.copy = copy;
            this.madeAt = copy == 0 ? -1 : queued;
        }

        /** t's bf16 copy when the op queued last made it, else 0. */
        long take(CudaTensor t) {
            return madeAt == queued && address == t.address() && elements == t.numel() ? copy : 0;
        }

        void free() {
            first.free();
            second.free();
            copy = 0;
            madeAt = -1;
        }
    }

    /** An int array compared by content, as a map key. */
    private record ArrayKey(int[] values) {
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
     * memory first waits for all queued work; the model passes the same segment bounds and rotary
     * frequencies to every layer, and re-uploading them drained the queue twice per layer, so
     * the host's launch latency showed between kernels. Repeated arrays now upload once; the
     * least recently used copies beyond {@value #MAX_STAGED_ARRAYS} are freed.
     */
    private final class StagedArrays {
        private final LinkedHashMap<ArrayKey, Long> copies = new LinkedHashMap<>(16, 0.75f, true);

        synchronized long deviceCopy(int[] values) {
            ArrayKey key = new ArrayKey(values);
            Long cached = copies.get(key);
            if (cached != null) return cached;
            long start = profile.start();
            long bytes = Math.max(1, values.length) * (long) Integer.BYTES;
            long address = deviceAlloc(bytes);
            try (Arena arena = Arena.ofConfined()) {
                if (values.length > 0) {
                    CudaDriver.check(CudaDriver.cuMemcpyHtoD(address, arena.allocateFrom(JAVA_INT, values), bytes), "cuMemcpyHtoD_v2");
                }
            }
            copies.put(new ArrayKey(values.clone()), address);
            if (copies.size() > MAX_STAGED_ARRAYS) {
                var eldest = copies.entrySet().iterator().next();
                deviceFree(eldest.getValue(), sizeOf(eldest.getKey()));
                copies.remove(eldest.getKey());
            }
            profile.stop("stage arguments", start);
            return address;
        }

        synchronized void free() {
            copies.forEach((key, address) -> deviceFree(address, sizeOf(key)));
            copies.clear();
        }

        private static long sizeOf(ArrayKey key) {
            return Math.max(1, key.values().length) * (long) Integer.BYTES;
        }
    }

    /** Each array's device address; the arrays may be changed afterwards. */
    private long[] stage(int[]... arrays) {
        long[] addresses = new long[arrays.length];
        for (int i = 0; i < arrays.length; i++) addresses[i] = stagedArrays.deviceCopy(arrays[i]);
        return addresses;
    }

    /** Floats travel through {@link #stage} as their bit patterns. */
    private static int[] bits(float[] values) {
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) bits[i] = Float.floatToRawIntBits(values[i]);
        return bits;
    }

    private double[] downloadDoubles(long address, int count) {
        long start = profile.start();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_DOUBLE, count);
            CudaDriver.check(CudaDriver.cuMemcpyDtoH(host, address, (long) count * Double.BYTES), "cuMemcpyDtoH_v2");
            return host.toArray(JAVA_DOUBLE);
        } finally {
            profile.stop("download", start);
        }
    }

    @Override
    public Tensor allocate(int... shape) {
        bindContext();
        long n = 1;
        for (int s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n *= s;
        }
        CudaTensor tensor = new CudaTensor(allocateFloats(n), 0, shape);
        fill(tensor, 0f);
        return tensor;
    }

    /**
     * Bytes per critical copy between a Java array and the device: the copies read and write the
     * array in place (no staging buffer to allocate, zero and copy again), and the garbage
     * collector waits for each chunk.
     */
    private static final long HEAP_COPY_CHUNK_BYTES = 64L << 20;

    @Override
    public void upload(float[] src, Tensor dst) {
        CudaTensor d = cuda(dst);
        if (src.length != d.numel()) throw new IllegalArgumentException("upload: " + src.length + " values into " + d);
        if (src.length == 0) return;
        bindContext();
        long start = profile.start();
        MemorySegment host = MemorySegment.ofArray(src);
        long bytes = d.numel() * Float.BYTES;
        for (long offset = 0; offset < bytes; offset += HEAP_COPY_CHUNK_BYTES) {
            long chunk = Math.min(HEAP_COPY_CHUNK_BYTES, bytes - offset);
            CudaDriver.check(CudaDriver.cuMemcpyHtoDHeap(d.address() + offset, host.asSlice(offset, chunk), chunk), "cuMemcpyHtoD_v2");
        }
        handoff.queued();
        profile.stop("upload", start);
    }

    @Override
    public float[] download(Tensor src) {
        CudaTensor s = cuda(src);
        if (s.numel() > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("download: " + s + " does not fit a Java array");
        if (s.numel() == 0) return new float[0];
        bindContext();
        long start = profile.start();
        try {
            float[] values = new float[Math.toIntExact(s.numel())];
            MemorySegment host = MemorySegment.ofArray(values);
            long bytes = s.numel() * Float.BYTES;
            for (long offset = 0; offset < bytes; offset += HEAP_COPY_CHUNK_BYTES) {
                long chunk = Math.min(HEAP_COPY_CHUNK_BYTES, bytes - offset);
                CudaDriver.check(CudaDriver.cuMemcpyDtoHHeap(host.asSlice(offset, chunk), s.address() + offset, chunk), "cuMemcpyDtoH_v2");
            }
            return values;
        } finally {
            profile.stop("download", start);
        }
    }

    @Override
    public void fill(Tensor t, float value) {
        CudaTensor c = cuda(t);
        if (c.numel() == 0) return;
        bindContext();
        long start = profile.start();
        CudaDriver.check(CudaDriver.cuMemsetD32(c.address(), Float.floatToRawIntBits(value), c.numel()), "cuMemsetD32_v2");
        handoff.queued();
        profile.stop("fill", start);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CudaTensor s = cuda(src), d = cuda(dst);
        requireSameSize(s, d, "copy");
        if (s.numel() == 0) return;
        bindContext();
        long start = profile.start();
        CudaDriver.check(CudaDriver.cuMemcpyDtoD(d.address(), s.address(), s.numel() * Float.BYTES), "cuMemcpyDtoD_v2");
        handoff.queued();
        profile.stop("copy", start);
    }

    // ---- launching ----------------------------------------------------------------

    /**
     * Queues a kernel of BLOCK threads per block. Arguments are passed by value in the kernel's
     * parameter order: tensors as their device address, Long as long long or a raw device
     * address, Integer, Float, Double, and Boolean as int.
     */
    /** Rows one thread of the norm weight gradient sums; chunks are capped so the second pass stays short. */
    private static final int NORM_GRAD_ROWS_PER_CHUNK = 128;
    private static final int MAX_NORM_GRAD_CHUNKS = 1024;

    private void launch(Kernel kernel, long gridX, int gridY, long sharedBytes, Object... parameters) {
        if (sharedBytes > MAX_DYNAMIC_SHARED_BYTES) {
            throw new CudaException(kernel.symbol() + " needs " + sharedBytes + " bytes of shared memory, more than the "
                    + MAX_DYNAMIC_SHARED_BYTES + " available (segments too long for these simple attention kernels)");
        }
        if (parameters.length > MAX_KERNEL_PARAMETERS) throw new IllegalArgumentException(kernel.symbol() + ": more than " + MAX_KERNEL_PARAMETERS + " parameters");
        bindContext();
        long start = profile.start();
        // cuLaunchKernel copies the values before it returns, so one scratch buffer per thread serves every launch
        MemorySegment scratch = LAUNCH_SCRATCH.get();
        MemorySegment pointers = scratch.asSlice(0, MAX_KERNEL_PARAMETERS * ADDRESS.byteSize());
        MemorySegment values = scratch.asSlice(MAX_KERNEL_PARAMETERS * ADDRESS.byteSize(), MAX_KERNEL_PARAMETERS * Long.BYTES);
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
        CudaDriver.check(CudaDriver.cuLaunchKernel(kernels.function(kernel), Math.toIntExact(gridX), gridY, 1, kernel.threads, 1, 1,
                (int) sharedBytes, stream, pointers, MemorySegment.NULL), "cuLaunchKernel(" + kernel.symbol() + ")");
        handoff.queued();
        profile.stop(kernel.symbol(), start);
    }

    private static final int MAX_KERNEL_PARAMETERS = 16;
    /** Per thread: the parameter pointers and values of a launch (8 bytes each). */
    private static final ThreadLocal<MemorySegment> LAUNCH_SCRATCH = ThreadLocal.withInitial(
            () -> Arena.ofAuto().allocate(MAX_KERNEL_PARAMETERS * (ADDRESS.byteSize() + Long.BYTES), Long.BYTES));

    /** A kernel over {@code n} elements, whose first parameter is n (a grid-stride loop). */
    private void launchElementwise(Kernel kernel, long n, Object... parameters) {
        if (n == 0) return;
        Object[] withCount = new Object[parameters.length + 1];
        withCount[0] = n;
        System.arraycopy(parameters, 0, withCount, 1, parameters.length);
        launch(kernel, Math.min((n + BLOCK - 1) / BLOCK, MAX_ELEMENTWISE_BLOCKS), 1, 0, withCount);
    }

    /** A kernel with one block per row. */
    private void launchRowwise(Kernel kernel, long rows, Object... parameters) {
        if (rows == 0) return;
        launch(kernel, rows, 1, 0, parameters);
    }

    // ---- checks -------------------------------------------------------------------

    static CudaTensor cuda(Tensor t) {
        if (t instanceof CudaTensor c) return c;
        throw new IllegalArgumentException("tensor " + t + " does not belong to the CUDA backend");
    }

    private static void requireSameSize(CudaTensor a, CudaTensor b, String what) {
        if (a.numel() != b.numel()) {
            throw new IllegalArgumentException(what + ": sizes differ, " + Arrays.toString(a.shape()) + " vs " + Arrays.toString(b.shape()));
        }
    }

    private static long groupSize(CudaTensor t, int groups) {
        if (groups <= 0 || t.numel() % groups != 0) throw new IllegalArgumentException(t + " does not split into " + groups + " groups");
        return t.numel() / groups;
    }

    private static void checkIds(int[] ids, int vocabulary) {
        for (int id : ids) {
            if (id < 0 || id >= vocabulary) throw new IllegalArgumentException("target id " + id + " outside vocabulary of " + vocabulary);
        }
    }

    // ---- dense algebra ------------------------------------------------------------

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c,
                     Epilogue epilogue, Tensor bias, Tensor preActivation) {
        gemm(transA, transB, alpha, a, b, beta, c, c, epilogue, bias, preActivation);
    }

    /** The bf16-operand path reads the addend in place, as cuBLASLt's C beside the output D; the others copy it first. */
    @Override
    public void gemmOnto(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, Tensor addend, Tensor out) {
        requireSameSize(cuda(addend), cuda(out), "gemmOnto addend");
        gemm(transA, transB, alpha, a, b, 1f, addend, out, Epilogue.NONE, null, null);
    }

    /**
     * Without a backward after it, in the bf16 mode with the flash attention: the QKV product writes bf16,
     * rotated in place (rotary_bf16), the flash attention reads that and writes its output in bf16 only,
     * and the output product reads it, adding onto the addend in place; qkv and attn are not written.
     */
    @Override
    public void attentionOnto(float alpha, Tensor x, Tensor wQkv, Tensor wOut, int heads, float[] invFreq, Segments segments, Tensor addend,
                              Tensor out, Tensor qkv, Tensor attn, Tensor logSumExp, boolean forBackward) {
        CudaTensor cx = cuda(x), cQkv = cuda(wQkv), cOut = cuda(wOut), cq = cuda(qkv), ca = cuda(attn), cAddend = cuda(addend), co = cuda(out);
        int rows = segments.rows(), seqLen = segments.seqLen(), tokens = rows * seqLen;
        int d = cq.lastDim(), width = heads * d, k = cx.lastDim(), n = Math.toIntExact(cOut.rows());
        boolean shapesFit = tokens > 0 && cq.numel() == (long) tokens * 3 * width && ca.numel() == (long) tokens * width
                && cx.numel() == (long) tokens * k && cQkv.numel() == 3L * width * k && cOut.lastDim() == width
                && co.numel() == (long) tokens * n && cAddend.numel() == co.numel() && invFreq.length == d / 2
                && cuda(logSumExp).numel() == (long) rows * heads * seqLen;
        if (!forBackward && gemmPrecision == GemmPrecision.BF16 && bf16Operands && bf16Activations && flashAttention && flashAttentionFromBf16Copy
                && shapesFit && flashAttentionFits(d, rows * heads, cq, ca) && bf16OperandsPay(tokens, 3 * width, k) && bf16OperandsPay(tokens, n, width)) {
            bindContext();
            long qkvCopy = qkv16.reserve((long) tokens * 3 * width * 2);
            if (ltMatmul(false, true, tokens, 3 * width, k, 1f, bf16LtOperands(() -> toBf16(cx, cQkv)), 0f, qkvCopy, qkvCopy, Cublas.CUDA_R_16BF,
                    null, false, null, BF16_OPERANDS_PROFILE_KEY)) {
                long[] frequencies = stage(bits(invFreq));
                launchElementwise(Kernel.ROTARY_BF16, (long) tokens * (d / 2), seqLen, heads, d / 2, frequencies[0], qkvCopy);
                SegmentBounds bounds = stageSegments(segments);
                long attentionCopy = attention16.reserve((long) tokens * width * 2);
                launch(Kernel.ATTENTION_FORWARD_FLASH_BF16, flashAttentionTiles(seqLen), rows * heads, 0, seqLen, heads, d, (float) (1.0 / Math.sqrt(d)),
                        bounds.starts(), bounds.ends(), qkvCopy, 0L, attentionCopy, cuda(logSumExp));
                if (ltMatmul(false, true, tokens, n, width, alpha, bf16LtOperands(() -> new long[] {attentionCopy, bf16Operand(cOut, bf16OperandB)}),
                        1f, cAddend.address(), co.address(), Cublas.CUDA_R_32F, null, false, null, BF16_OPERANDS_PROFILE_KEY)) {
                    return;
                }
            }
        }
        // also where cuBLASLt has no algorithm for a product: the general path redoes the block
        ComputeBackend.super.attentionOnto(alpha, x, wQkv, wOut, heads, invFreq, segments, addend, out, qkv, attn, logSumExp, forBackward);
    }

    /**
     * Without a backward after it, in the bf16 mode: fc1's product with GELU in its epilogue writes
     * the activation as bf16 only (2 bytes an element instead of fp32 output, fp32 pre-activation and a
     * bf16 conversion), and fc2 reads it as its operand, adding onto the addend in place.
     */
    @Override
    public void mlpOnto(float alpha, Tensor x, Tensor w1, Tensor w2, Tensor addend, Tensor out, Tensor activation, Tensor preActivation,
                        boolean forBackward) {
        CudaTensor cx = cuda(x), c1 = cuda(w1), c2 = cuda(w2), cAddend = cuda(addend), cOut = cuda(out);
        int m = Math.toIntExact(cx.rows()), k = cx.lastDim(), hidden = Math.toIntExact(c1.rows()), n = Math.toIntExact(c2.rows());
        boolean shapesFit = c1.lastDim() == k && c2.lastDim() == hidden && cuda(activation).numel() == (long) m * hidden
                && cOut.numel() == (long) m * n && cAddend.numel() == cOut.numel() && m > 0;
        if (!forBackward && gemmPrecision == GemmPrecision.BF16 && bf16Operands && bf16Activations && shapesFit
                && bf16OperandsPay(m, hidden, k) && bf16OperandsPay(m, n, hidden)) {
            bindContext();
            long activation16 = mlpActivation16.reserve((long) m * hidden * 2);
            if (ltMatmul(false, true, m, hidden, k, 1f, bf16LtOperands(() -> toBf16(cx, c1)), 0f, activation16, activation16, Cublas.CUDA_R_16BF,
                    null, true, null, BF16_OPERANDS_PROFILE_KEY)
                    && ltMatmul(false, true, m, n, hidden, alpha, bf16LtOperands(() -> new long[] {activation16, bf16Operand(c2, bf16OperandB)}), 1f,
                    cAddend.address(), cOut.address(), Cublas.CUDA_R_32F, null, false, null, BF16_OPERANDS_PROFILE_KEY)) {
                return;
            }
        }
        // also where cuBLASLt has no algorithm for a product
        ComputeBackend.super.mlpOnto(alpha, x, w1, w2, addend, out, activation, preActivation, forBackward);
    }

    /** c = alpha·op(a)·op(b) + beta·cIn, then the epilogue; cIn is c, or for {@link #gemmOnto} the addend. */
    private void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor cIn, Tensor c,
                      Epilogue epilogue, Tensor bias, Tensor preActivation) {
        CudaTensor ca = cuda(a), cb = cuda(b), cc = cuda(c), addend = cuda(cIn);
        int m = Math.toIntExact(cc.rows()), n = cc.lastDim();
        int k = transA ? Math.toIntExact(ca.rows()) : ca.lastDim();
        if ((long) m * k != ca.numel()) throw new IllegalArgumentException("gemm: a " + ca + " does not fit c " + cc + " with k " + k);
        if ((long) k * n != cb.numel()) throw new IllegalArgumentException("gemm: b " + cb + " is not " + (transB ? n + "x" + k : k + "x" + n));
        boolean hasBias = epilogue == Epilogue.BIAS || epilogue == Epilogue.BIAS_GELU;
        boolean hasGelu = epilogue == Epilogue.GELU || epilogue == Epilogue.BIAS_GELU;
        if (hasBias && cuda(bias).numel() != n) throw new IllegalArgumentException("gemm: bias " + bias + " needs " + n + " values");
        if (hasGelu && preActivation != null) requireSameSize(cc, cuda(preActivation), "gemm pre-activation");
        if (cc.numel() == 0) return;
        bindContext();
        // a thread asking for TF32 products (the sampler, as sample.py) gets them where the backend would run plain fp32
        GemmPrecision precision = gemmPrecision == GemmPrecision.FP32 && MatmulPrecision.tf32() ? GemmPrecision.TF32 : gemmPrecision;
        CudaTensor biasTensor = hasBias ? cuda(bias) : null, pre = hasGelu && preActivation != null ? cuda(preActivation) : null;
        if (precision == GemmPrecision.BF16 && bf16Operands && bf16OperandsPay(m, n, k)) {
            // both operands rounded to bf16 copies, then a bf16 × bf16 → fp32 product (fp32 sums): the tensor cores' full rate
            LtOperands operands = bf16LtOperands(() -> toBf16(ca, cb));
            if (ltMatmul(transA, transB, m, n, k, alpha, operands, beta, addend.address(), cc.address(), Cublas.CUDA_R_32F, biasTensor, hasGelu, pre,
                    BF16_OPERANDS_PROFILE_KEY)) {
                return;
            }
        }
        if (addend != cc) copy(addend, cc); // the paths below add onto c itself
        if (hasBias || hasGelu) {
            LtOperands operands = new LtOperands(alignment(ca.address()), alignment(cb.address()), Cublas.CUDA_R_32F, precision.cublasComputeType,
                    () -> new long[] {ca.address(), cb.address()});
            if (!ltMatmul(transA, transB, m, n, k, alpha, operands, beta, cc.address(), cc.address(), Cublas.CUDA_R_32F, biasTensor, hasGelu, pre,
                    precision.profileKey + " + epilogue")) {
                throw new CudaException("cuBLASLt has no algorithm for a " + m + "×" + n + "×" + k + " GEMM with this epilogue");
            }
            return;
        }
        long start = profile.start();
        // cuBLAS is column-major, where a row-major X reads as Xᵀ: C = op(A)·op(B) is computed as
        // Cᵀ = op(B)ᵀ·op(A)ᵀ, an n×m column-major product with the operands swapped.
        try (Arena arena = Arena.ofConfined()) {
            Cublas.check(Cublas.cublasGemmEx(cublas,
                    transB ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N, transA ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N,
                    n, m, k, arena.allocateFrom(JAVA_FLOAT, alpha),
                    cb.address(), Math.max(1, transB ? k : n),
                    ca.address(), Math.max(1, transA ? m : k),
                    arena.allocateFrom(JAVA_FLOAT, beta), cc.address(), n, precision.cublasComputeType), "cublasGemmEx");
        }
        handoff.queued();
        profile.stop(precision.profileKey, start);
    }

    /** What {@link #opProfile()} lists the bf16-operand GEMMs under (their conversions are listed as convert_to_bf16*). */
    public static final String BF16_OPERANDS_PROFILE_KEY = "gemm bf16 (bf16 operands)";
    /** The largest operand (elements) copied to bf16 scratch: bounds the scratch at 256 MiB an operand. */
    private static final long BF16_OPERAND_MAX_ELEMENTS = 1L << 27;
    /**
     * Flops per byte of the fp32 A, B and C below which a GEMM is bound by memory, not arithmetic
     * (a thin inner dimension, or an operand much larger than the product's work), so converting
     * its operands would cost more than the tensor cores save.
     */
    private static final double BF16_OPERAND_MIN_FLOPS_PER_BYTE = 32;
    private static final int BF16_SCRATCH_ALIGNMENT = 256;

    /** Whether rounding both operands to bf16 copies pays for a GEMM of this shape (see the constants above). */
    static boolean bf16OperandsPay(int m, int n, int k) {
        long aElements = (long) m * k, bElements = (long) k * n, cElements = (long) m * n;
        if (aElements > BF16_OPERAND_MAX_ELEMENTS || bElements > BF16_OPERAND_MAX_ELEMENTS) return false;
        double flops = 2.0 * m * n * k;
        return flops / (Float.BYTES * (double) (aElements + bElements + cElements)) >= BF16_OPERAND_MIN_FLOPS_PER_BYTE;
    }

    /** The bf16 copy of a tensor in {@code scratch}: its device address. */
    private long toBf16(CudaTensor t, DeviceBuffer scratch) {
        return convertToBf16(t, scratch.reserve(t.numel() * 2));
    }

    /** Writes t as bf16 to {@code destination}; returns it. */
    private long convertToBf16(CudaTensor t, long destination) {
        long n = t.numel();
        if (t.address() % 16 == 0 && n % 4 == 0) launchElementwise(Kernel.CONVERT_TO_BF16_VEC4, n / 4, t, destination);
        else launchElementwise(Kernel.CONVERT_TO_BF16, n, t, destination);
        return destination;
    }

    /** A read-only tensor's bf16 copy ({@link #withReadOnly}): its size, and its device address once made (0 before). */
    private static final class ReadOnlyCopy {
        final long elements;
        long address;

        ReadOnlyCopy(long elements) {
            this.elements = elements;
        }
    }

    /** This thread's read-only tensors by device address, while a {@link #withReadOnly} call runs. */
    private final ThreadLocal<Map<Long, ReadOnlyCopy>> readOnlyCopies = ThreadLocal.withInitial(LinkedHashMap::new);

    @Override
    public <T> T withReadOnly(Collection<Tensor> tensors, Supplier<T> body) {
        Map<Long, ReadOnlyCopy> copies = readOnlyCopies.get();
        if (!copies.isEmpty()) return body.get();
        for (Tensor t : tensors) {
            CudaTensor c = cuda(t);
            copies.put(c.address(), new ReadOnlyCopy(c.numel()));
        }
        try {
            return body.get();
        } finally {
            for (ReadOnlyCopy copy : copies.values()) {
                if (copy.address != 0) deviceFree(copy.address, copy.elements * 2);
            }
            copies.clear();
        }
    }

    /** t's bf16 copy: handed over, kept because t is read-only, or else converted into {@code scratch}. */
    private long bf16Operand(CudaTensor t, DeviceBuffer scratch) {
        long handed = handoff.take(t);
        if (handed != 0) return handed;
        long kept = readOnlyBf16(t);
        return kept != 0 ? kept : toBf16(t, scratch);
    }

    /** The kept bf16 copy of t when it is read-only on this thread (made at its first use), else 0. */
    private long readOnlyBf16(CudaTensor t) {
        ReadOnlyCopy copy = readOnlyCopies.get().get(t.address());
        if (copy == null || copy.elements != t.numel()) return 0;
        if (copy.address == 0) copy.address = convertToBf16(t, deviceAlloc(copy.elements * 2));
        return copy.address;
    }

    /**
     * Bf16 copies of a GEMM's two operands: one handed over by the op that wrote the operand, a read-only
     * operand's kept copy, the others converted into their scratch buffers, both in one launch where both
     * need converting and allow float4 reads.
     */
    private long[] toBf16(CudaTensor a, CudaTensor b) {
        // both hand-offs are taken before anything is queued, which would end them
        long handedA = handoff.take(a), handedB = handoff.take(b);
        long readyA = handedA != 0 ? handedA : readOnlyBf16(a), readyB = handedB != 0 ? handedB : readOnlyBf16(b);
        if (readyA != 0 || readyB != 0) {
            return new long[] {readyA != 0 ? readyA : toBf16(a, bf16OperandA), readyB != 0 ? readyB : toBf16(b, bf16OperandB)};
        }
        long na = a.numel(), nb = b.numel();
        if (a.address() % 16 != 0 || na % 4 != 0 || b.address() % 16 != 0 || nb % 4 != 0) {
            return new long[] {toBf16(a, bf16OperandA), toBf16(b, bf16OperandB)};
        }
        long aCopy = bf16OperandA.reserve(na * 2), bCopy = bf16OperandB.reserve(nb * 2);
        launchElementwise(Kernel.CONVERT_TWO_TO_BF16_VEC4, (na + nb) / 4, na / 4, a, aCopy, b, bCopy);
        return new long[] {aCopy, bCopy};
    }

    /** The largest power of two (at most 256) dividing a device address: what cuBLASLt may assume of it. */
    private static int alignment(long address) {
        return (int) Long.lowestOneBit(address | 256);
    }

    /**
     * The operands of a cuBLASLt product: their element type and alignment, the compute type, and
     * how to get their {a, b} device addresses, row-major as in {@link #gemm} (asked once an
     * algorithm is found, so a product cuBLASLt cannot do converts nothing).
     */
    private record LtOperands(int alignmentA, int alignmentB, int type, int computeType, Supplier<long[]> addresses) {}

    /** Bf16 operands in the scratch alignment, multiplied with fp32 sums. */
    private static LtOperands bf16LtOperands(Supplier<long[]> addresses) {
        return new LtOperands(BF16_SCRATCH_ALIGNMENT, BF16_SCRATCH_ALIGNMENT, Cublas.CUDA_R_16BF, Cublas.CUBLAS_COMPUTE_32F, addresses);
    }

    /** What decides cuBLASLt's choice of algorithm; its heuristic is asked once per key. */
    private record LtKey(boolean transA, boolean transB, int m, int n, int k, int type, int computeType, int outputType, int epilogue,
                         int alignmentA, int alignmentB, int alignmentC) {}

    /**
     * What cuBLASLt needs for one key, made once: the operation and layout descriptors (the
     * pointers of the bias and the pre-activation are set per call) and the heuristic's first
     * algorithm (a cublasLtMatmulHeuristicResult_t); NO_PLAN when cuBLASLt has none.
     */
    private record LtPlan(MemorySegment desc, MemorySegment first, MemorySegment second, MemorySegment result, MemorySegment algorithm) {}

    private static final LtPlan NO_PLAN = new LtPlan(null, null, null, null, null);
    private final Map<LtKey, LtPlan> ltPlans = new ConcurrentHashMap<>();
    private final Arena ltArena = Arena.ofShared();

    /**
     * The GEMM of {@link #gemm} through cuBLASLt, applying the bias (per column of row-major C) and
     * GELU, storing the pre-activation when asked, in the product's epilogue: one pass over C.
     * Same column-major mapping as the plain GEMM: Cᵀ = op(B)ᵀ·op(A)ᵀ, so the bias runs along
     * the n rows of the column-major result. cIn and c are device addresses of outputType (fp32;
     * bf16 for the MLP's activation). False, with nothing queued, when cuBLASLt has no algorithm for it.
     */
    private boolean ltMatmul(boolean transA, boolean transB, int m, int n, int k, float alpha, LtOperands operands, float beta,
                             long cIn, long c, int outputType, CudaTensor bias, boolean gelu, CudaTensor preActivation, String profileKey) {
        if (ltWorkspace == null) ltWorkspace = allocateFloats(LT_WORKSPACE_BYTES / Float.BYTES);
        int epilogue = gelu ? (preActivation != null ? CublasLt.EPILOGUE_GELU_AUX : CublasLt.EPILOGUE_GELU) | (bias != null ? CublasLt.EPILOGUE_BIAS : 0)
                : bias != null ? CublasLt.EPILOGUE_BIAS : CublasLt.EPILOGUE_DEFAULT;
        LtKey key = new LtKey(transA, transB, m, n, k, operands.type(), operands.computeType(), outputType, epilogue, operands.alignmentA(),
                operands.alignmentB(), Math.min(alignment(cIn), alignment(c)));
        LtPlan plan = ltPlans.computeIfAbsent(key, this::ltPlan);
        if (plan == NO_PLAN) return false;
        long[] addresses = operands.addresses().get();
        synchronized (plan) { // the pointers set on its descriptor hold until its matmul is queued
            try (Arena arena = Arena.ofConfined()) {
                if (bias != null) setLtAttribute(plan.desc(), CublasLt.MATMUL_DESC_BIAS_POINTER, arena.allocateFrom(JAVA_LONG, bias.address()));
                if (preActivation != null) {
                    setLtAttribute(plan.desc(), CublasLt.MATMUL_DESC_EPILOGUE_AUX_POINTER, arena.allocateFrom(JAVA_LONG, preActivation.address()));
                }
                long start = profile.start();
                // the algorithm is the first member of the heuristic result
                CublasLt.check(CublasLt.matmul(cublasLt, plan.desc(), arena.allocateFrom(JAVA_FLOAT, alpha), addresses[1], plan.first(),
                        addresses[0], plan.second(), arena.allocateFrom(JAVA_FLOAT, beta), cIn, plan.result(), c, plan.result(),
                        plan.algorithm(), ltWorkspace.address(), LT_WORKSPACE_BYTES, stream), "cublasLtMatmul");
                handoff.queued();
                profile.stop(profileKey, start);
            }
        }
        return true;
    }

    private LtPlan ltPlan(LtKey key) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(ADDRESS);
            CublasLt.check(CublasLt.matmulDescCreate(slot, key.computeType(), Cublas.CUDA_R_32F), "cublasLtMatmulDescCreate");
            MemorySegment desc = slot.get(ADDRESS, 0);
            MemorySegment first = null, second = null, result = null;
            boolean kept = false;
            try {
                setLtAttribute(desc, CublasLt.MATMUL_DESC_TRANSA, arena.allocateFrom(JAVA_INT, key.transB() ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N));
                setLtAttribute(desc, CublasLt.MATMUL_DESC_TRANSB, arena.allocateFrom(JAVA_INT, key.transA() ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N));
                setLtAttribute(desc, CublasLt.MATMUL_DESC_EPILOGUE, arena.allocateFrom(JAVA_INT, key.epilogue()));
                if (key.epilogue() == (CublasLt.EPILOGUE_GELU_AUX | CublasLt.EPILOGUE_BIAS) || key.epilogue() == CublasLt.EPILOGUE_GELU_AUX) {
                    setLtAttribute(desc, CublasLt.MATMUL_DESC_EPILOGUE_AUX_LD, arena.allocateFrom(JAVA_LONG, (long) key.n()));
                }
                int m = key.m(), n = key.n(), k = key.k();
                first = ltLayout(arena, key.type(), key.transB() ? k : n, key.transB() ? n : k);
                second = ltLayout(arena, key.type(), key.transA() ? m : k, key.transA() ? k : m);
                result = ltLayout(arena, key.outputType(), n, m);
                MemorySegment algorithm = ltHeuristic(arena, desc, first, second, result, key);
                if (algorithm == null) return NO_PLAN;
                kept = true;
                return new LtPlan(desc, first, second, result, algorithm);
            } finally {
                if (!kept) {
                    for (MemorySegment layout : new MemorySegment[] {first, second, result}) if (layout != null) CublasLt.matrixLayoutDestroy(layout);
                    CublasLt.matmulDescDestroy(desc);
                }
            }
        }
    }

    private void destroyLtPlans() {
        for (LtPlan plan : ltPlans.values()) {
            if (plan == NO_PLAN) continue;
            for (MemorySegment layout : new MemorySegment[] {plan.first(), plan.second(), plan.result()}) CublasLt.matrixLayoutDestroy(layout);
            CublasLt.matmulDescDestroy(plan.desc());
        }
        ltPlans.clear();
    }

    /** cuBLASLt's first choice for this product, kept in {@link #ltArena}; null when it has none. */
    private MemorySegment ltHeuristic(Arena arena, MemorySegment desc, MemorySegment first, MemorySegment second, MemorySegment result, LtKey key) {
        MemorySegment slot = arena.allocate(ADDRESS);
        CublasLt.check(CublasLt.preferenceCreate(slot), "cublasLtMatmulPreferenceCreate");
        MemorySegment preference = slot.get(ADDRESS, 0);
        try {
            CublasLt.check(CublasLt.preferenceSetAttribute(preference, CublasLt.PREF_MAX_WORKSPACE_BYTES,
                    arena.allocateFrom(JAVA_LONG, LT_WORKSPACE_BYTES), Long.BYTES), "cublasLtMatmulPreferenceSetAttribute");
            // the column-major product's A is our B and its B our A
            int[][] alignments = {{CublasLt.PREF_MIN_ALIGNMENT_A_BYTES, key.alignmentB()}, {CublasLt.PREF_MIN_ALIGNMENT_B_BYTES, key.alignmentA()},
                    {CublasLt.PREF_MIN_ALIGNMENT_C_BYTES, key.alignmentC()}, {CublasLt.PREF_MIN_ALIGNMENT_D_BYTES, key.alignmentC()}};
            for (int[] attribute : alignments) {
                CublasLt.check(CublasLt.preferenceSetAttribute(preference, attribute[0], arena.allocateFrom(JAVA_INT, attribute[1]), Integer.BYTES),
                        "cublasLtMatmulPreferenceSetAttribute(" + attribute[0] + ")");
            }
            MemorySegment heuristic = arena.allocate(CublasLt.HEURISTIC_RESULT_BYTES, 16);
            MemorySegment found = arena.allocate(JAVA_INT);
            int status = CublasLt.algoGetHeuristic(cublasLt, desc, first, second, result, result, preference, 1, heuristic, found);
            // CUBLAS_STATUS_NOT_SUPPORTED (15): no algorithm for this combination
            if (status == 15 || status == 0 && found.get(JAVA_INT, 0) == 0) return null;
            CublasLt.check(status, "cublasLtMatmulAlgoGetHeuristic");
            synchronized (ltArena) {
                return ltArena.allocate(CublasLt.HEURISTIC_RESULT_BYTES, 16).copyFrom(heuristic);
            }
        } finally {
            CublasLt.preferenceDestroy(preference);
        }
    }

    private static void setLtAttribute(MemorySegment desc, int attribute, MemorySegment value) {
        CublasLt.check(CublasLt.matmulDescSetAttribute(desc, attribute, value, value.byteSize()), "cublasLtMatmulDescSetAttribute(" + attribute + ")");
    }

    /** A column-major matrix layout of rows × cols elements of {@code type} with leading dimension rows. */
    private static MemorySegment ltLayout(Arena arena, int type, int rows, int cols) {
        MemorySegment slot = arena.allocate(ADDRESS);
        CublasLt.check(CublasLt.matrixLayoutCreate(slot, type, rows, cols, Math.max(1, rows)), "cublasLtMatrixLayoutCreate");
        return slot.get(ADDRESS, 0);
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        CudaTensor cx = cuda(x), cy = cuda(y);
        requireSameSize(cx, cy, "axpy");
        launchElementwise(Kernel.AXPY, cx.numel(), alpha, cx, cy);
    }

    @Override
    public void scale(Tensor t, float alpha) {
        CudaTensor c = cuda(t);
        launchElementwise(Kernel.SCALE, c.numel(), alpha, c);
    }

    @Override
    public double sumOfSquares(Tensor t) {
        CudaTensor c = cuda(t);
        return dotProducts(c, c, 1)[0];
    }

    @Override
    public void scaleGroups(Tensor in, float[] factors, Tensor out) {
        CudaTensor ci = cuda(in), co = cuda(out);
        requireSameSize(ci, co, "scaleGroups");
        long groupSize = groupSize(ci, factors.length);
        long[] staged = stage(bits(factors));
        launchElementwise(Kernel.SCALE_GROUPS, ci.numel(), groupSize, staged[0], ci, co);
    }

    @Override
    public double[] dotGroups(Tensor a, Tensor b, int groups) {
        CudaTensor ca = cuda(a), cb = cuda(b);
        requireSameSize(ca, cb, "dotGroups");
        return dotProducts(ca, cb, groups);
    }

    /** Σ a·b over each of {@code groups} equal groups: partial sums per block on the device, added here in double. */
    private double[] dotProducts(CudaTensor a, CudaTensor b, int groups) {
        long groupSize = groupSize(a, groups);
        int blocksPerGroup = (int) Math.clamp((groupSize + DOT_ELEMENTS_PER_BLOCK - 1) / DOT_ELEMENTS_PER_BLOCK, 1, MAX_DOT_BLOCKS_PER_GROUP);
        int partialCount = Math.multiplyExact(groups, blocksPerGroup);
        long partials = workspace.reserve((long) partialCount * Double.BYTES);
        launch(Kernel.DOT_PARTIALS, groups, blocksPerGroup, 0, groupSize, a, b, partials);
        double[] partial = downloadDoubles(partials, partialCount);
        double[] sums = new double[groups];
        for (int i = 0; i < partialCount; i++) sums[i / blocksPerGroup] += partial[i];
        return sums;
    }

    @Override
    public void addToGroupRows(Tensor v, Tensor x) {
        CudaTensor cv = cuda(v), cx = cuda(x);
        int width = cv.lastDim();
        int groups = Math.toIntExact(cv.rows());
        long rowsPerGroup = groupSize(cx, groups) / width;
        launchElementwise(Kernel.ADD_TO_GROUP_ROWS, cx.numel(), width, rowsPerGroup, cv, cx);
    }

    @Override
    public void sumGroupRows(Tensor x, Tensor out, boolean accumulate) {
        CudaTensor cx = cuda(x), co = cuda(out);
        int width = co.lastDim();
        int groups = Math.toIntExact(co.rows());
        long rowsPerGroup = groupSize(cx, groups) / width;
        launchElementwise(Kernel.SUM_GROUP_ROWS, co.numel(), width, rowsPerGroup, cx, co, accumulate);
    }

    // ---- normalisation, activation, position --------------------------------------

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor rstd) {
        CudaTensor cx = cuda(x), co = cuda(out);
        long out16 = handoff.reserve(co);
        launchRowwise(Kernel.RMS_NORM, cx.rows(), cx.lastDim(), cx, cuda(weight), eps, co, cuda(rstd), out16);
        handoff.made(co, out16);
    }

    @Override
    public void rmsNormBackward(Tensor dOut, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dWeight) {
        CudaTensor cg = cuda(dOut), cx = cuda(x), cr = cuda(rstd);
        launchRowwise(Kernel.RMS_NORM_BACKWARD, cx.rows(), cx.lastDim(), cg, cx, cuda(weight), cr, cuda(dx));
        if (dWeight != null) accumulateNormWeightGrad(cg, cx, cr, 0L, cuda(dWeight));
    }

    /** dWeight[j] += Σ_rows dOut·(x − mean)·rstd; meanAddress 0 for RMSNorm. */
    private void accumulateNormWeightGrad(CudaTensor dOut, CudaTensor x, CudaTensor rstd, long meanAddress, CudaTensor dWeight) {
        int width = x.lastDim(), rows = Math.toIntExact(x.rows());
        int chunks = Math.clamp((rows + NORM_GRAD_ROWS_PER_CHUNK - 1) / NORM_GRAD_ROWS_PER_CHUNK, 1, MAX_NORM_GRAD_CHUNKS);
        int rowsPerChunk = (rows + chunks - 1) / chunks;
        long partials = workspace.reserve((long) chunks * width * Double.BYTES);
        launch(Kernel.NORM_WEIGHT_GRAD_PARTIALS, (width + BLOCK - 1) / BLOCK, chunks, 0, (long) width, rows, rowsPerChunk, dOut, x, rstd,
                meanAddress, partials);
        launchElementwise(Kernel.NORM_WEIGHT_GRAD_FINISH, width, chunks, partials, dWeight);
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor mean, Tensor rstd) {
        CudaTensor cx = cuda(x), co = cuda(out);
        long out16 = handoff.reserve(co);
        launchRowwise(Kernel.LAYER_NORM, cx.rows(), cx.lastDim(), cx, cuda(weight), eps, co, cuda(mean), cuda(rstd), out16);
        handoff.made(co, out16);
    }

    @Override
    public void layerNormBackward(Tensor dOut, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dx, Tensor dWeight) {
        CudaTensor cg = cuda(dOut), cx = cuda(x), cm = cuda(mean), cr = cuda(rstd);
        launchRowwise(Kernel.LAYER_NORM_BACKWARD, cx.rows(), cx.lastDim(), cg, cx, cuda(weight), cm, cr, cuda(dx));
        if (dWeight != null) accumulateNormWeightGrad(cg, cx, cr, cm.address(), cuda(dWeight));
    }

    @Override
    public void gelu(Tensor x, Tensor out) {
        CudaTensor cx = cuda(x), co = cuda(out);
        requireSameSize(cx, co, "gelu");
        launchElementwise(Kernel.GELU, cx.numel(), cx, co);
    }

    @Override
    public void geluBackward(Tensor dOut, Tensor x, Tensor dx) {
        CudaTensor cx = cuda(x), cd = cuda(dx);
        long dx16 = handoff.reserve(cd); // the MLP's gradient goes to fc1's products next
        launchElementwise(Kernel.GELU_BACKWARD, cx.numel(), cuda(dOut), cx, cd, dx16);
        handoff.made(cd, dx16);
    }

    @Override
    public void rotary(Tensor qkv, int heads, float[] invFreq, boolean inverse) {
        CudaTensor c = cuda(qkv);
        int[] s = c.shape();
        if (s.length != 5) throw new IllegalArgumentException("rotary: qkv must be [rows, seqLen, 3, heads, headDim], got " + Arrays.toString(s));
        int seqLen = s[1], headDim = s[4], half = headDim / 2;
        if (invFreq.length != half) throw new IllegalArgumentException("rotary: " + invFreq.length + " frequencies for head dim " + headDim);
        long positions = c.numel() / (3L * heads * headDim);
        long[] staged = stage(bits(invFreq));
        // the forward rotation's result is the flash attention's input, the inverse's (the gradient) the QKV
        // weight's products': their bf16 copy is made here
        long qkv16 = inverse || flashAttention && flashAttentionFromBf16Copy ? handoff.reserve(c) : 0;
        launchElementwise(Kernel.ROTARY, positions * half, seqLen, heads, half, staged[0], inverse ? -1f : 1f, c, qkv16);
        handoff.made(c, qkv16);
    }

    // ---- attention ----------------------------------------------------------------

    /** Device copies of each position's segment [start, end), and the longest segment (which sizes shared memory). */
    private record SegmentBounds(long starts, long ends, int longest) {}

    private SegmentBounds stageSegments(Segments segments) {
        int rows = segments.rows(), seqLen = segments.seqLen();
        int[] starts = new int[rows * seqLen], ends = new int[rows * seqLen];
        int longest = 0;
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < seqLen; i++) {
                starts[b * seqLen + i] = segments.segmentStart(b, i);
                ends[b * seqLen + i] = segments.segmentEnd(b, i);
                longest = Math.max(longest, ends[b * seqLen + i] - starts[b * seqLen + i]);
            }
        }
        long[] staged = stage(starts, ends);
        return new SegmentBounds(staged[0], staged[1], longest);
    }

    private static void requireAttentionLayout(CudaTensor qkv, int heads, Segments segments) {
        long expected = (long) segments.rows() * segments.seqLen() * 3 * heads * qkv.lastDim();
        if (qkv.numel() != expected) {
            throw new IllegalArgumentException("attention: qkv " + qkv + " is not [" + segments.rows() + ", " + segments.seqLen() + ", 3, " + heads + ", d]");
        }
    }

    /**
     * Whether the tiled kernels handle this head dimension and these tensors: their lanes read
     * whole float4 chunks, so the head dimension must split into them and every tensor start on
     * a 16-byte boundary.
     */
    private boolean tiledAttentionFits(int headDim, int rowsTimesHeads, CudaTensor... tensors) {
        if (!tiledAttention || headDim > TILED_ATTENTION_MAX_HEAD_DIM || headDim % TILED_ATTENTION_HEAD_DIM_MULTIPLE != 0) return false;
        if (rowsTimesHeads > MAX_GRID_Y) return false;
        for (CudaTensor t : tensors) if (t.address() % 16 != 0) return false;
        return true;
    }

    /** Queries per block of attention_forward_flash and attention_forward_flash_bf16 (QUERIES there), and positions per block of attention_flash_backward.cu (OWNED). */
    private static final int FLASH_ATTENTION_QUERIES = 128;

    /** The flash kernel pads heads to 64 dimensions in steps of 16 and reads float4s. */
    private static boolean flashAttentionFits(int headDim, int rowsTimesHeads, CudaTensor... tensors) {
        if (headDim > TILED_ATTENTION_MAX_HEAD_DIM || headDim % 16 != 0 || rowsTimesHeads > MAX_GRID_Y) return false;
        for (CudaTensor t : tensors) if (t.address() % 16 != 0) return false;
        return true;
    }

    private static long flashAttentionTiles(int seqLen) {
        return (seqLen + FLASH_ATTENTION_QUERIES - 1) / FLASH_ATTENTION_QUERIES;
    }

    private static long attentionTiles(int seqLen) {
        return (seqLen + ATTENTION_TILE - 1) / ATTENTION_TILE;
    }

    @Override
    public void attention(Tensor qkv, int heads, Segments segments, Tensor out, Tensor logSumExp) {
        CudaTensor cq = cuda(qkv), co = cuda(out);
        requireAttentionLayout(cq, heads, segments);
        int d = cq.lastDim(), seqLen = segments.seqLen(), rowsTimesHeads = segments.rows() * heads;
        long queries = (long) rowsTimesHeads * seqLen;
        if (queries == 0) return;
        SegmentBounds bounds = stageSegments(segments);
        if (gemmPrecision == GemmPrecision.BF16 && flashAttention && flashAttentionFits(d, rowsTimesHeads, cq, co)) {
            long tiles = flashAttentionTiles(seqLen);
            float scale = (float) (1.0 / Math.sqrt(d));
            if (flashAttentionFromBf16Copy) {
                // handed over by the rotary, or converted into the GEMM operand scratch (free here: work on the stream runs in order)
                long qkv16 = bf16Operand(cq, bf16OperandA);
                long out16 = handoff.reserve(co);
                launch(Kernel.ATTENTION_FORWARD_FLASH_BF16, tiles, rowsTimesHeads, 0, seqLen, heads, d, scale, bounds.starts(), bounds.ends(),
                        qkv16, co, out16, cuda(logSumExp));
                handoff.made(co, out16);
            } else {
                launch(Kernel.ATTENTION_FORWARD_FLASH, tiles, rowsTimesHeads, 0, seqLen, heads, d, scale, bounds.starts(), bounds.ends(), cq, co,
                        cuda(logSumExp));
            }
            return;
        }
        if (tiledAttentionFits(d, rowsTimesHeads, cq, co)) {
            launch(Kernel.ATTENTION_FORWARD_TILED, attentionTiles(seqLen), rowsTimesHeads, 0, seqLen, heads, d, (float) (1.0 / Math.sqrt(d)),
                    bounds.starts(), bounds.ends(), cq, co, cuda(logSumExp));
        } else {
            launch(Kernel.ATTENTION_FORWARD, queries, 1, (long) bounds.longest() * Double.BYTES, seqLen, heads, d, 1.0 / Math.sqrt(d),
                    bounds.starts(), bounds.ends(), cq, co, cuda(logSumExp));
        }
    }

    @Override
    public void attentionBackward(Tensor dOut, Tensor qkv, Tensor out, Tensor logSumExp, int heads, Segments segments, Tensor dqkv) {
        CudaTensor cg = cuda(dOut), cq = cuda(qkv), cl = cuda(logSumExp), cd = cuda(dqkv);
        requireAttentionLayout(cq, heads, segments);
        int d = cq.lastDim(), seqLen = segments.seqLen(), rowsTimesHeads = segments.rows() * heads;
        long queries = (long) rowsTimesHeads * seqLen;
        if (queries == 0) return;
        SegmentBounds bounds = stageSegments(segments);
        CudaTensor co = cuda(out);
        double scale = 1.0 / Math.sqrt(d);
        if (gemmPrecision == GemmPrecision.BF16 && flashAttention && flashAttentionFits(d, rowsTimesHeads, cg, cq, co, cd)) {
            // bf16 copies in the GEMM operand scratch (free here: work on the stream runs in order): qkv's handed
            // over or converted, dOut's made with the deltas
            long qkv16 = bf16Operand(cq, bf16OperandA);
            long dOut16 = bf16OperandB.reserve(cg.numel() * 2), delta = workspace.reserve(queries * Float.BYTES);
            launchElementwise(Kernel.ATTENTION_BACKWARD_DELTA, queries * 16, d, cg, co, dOut16, delta);
            long tiles = flashAttentionTiles(seqLen);
            for (Kernel kernel : List.of(Kernel.ATTENTION_BACKWARD_KEY_VALUE_FLASH, Kernel.ATTENTION_BACKWARD_QUERY_FLASH)) {
                launch(kernel, tiles, rowsTimesHeads, 0, seqLen, heads, d, (float) scale, bounds.starts(), bounds.ends(), qkv16, dOut16, cl,
                        delta, cd);
            }
            return;
        }
        long delta = workspace.reserve(queries * Double.BYTES);
        launchElementwise(Kernel.ATTENTION_DELTA, queries, d, cg, co, delta);
        if (tiledAttentionFits(d, rowsTimesHeads, cg, cq, cd)) {
            for (Kernel kernel : List.of(Kernel.ATTENTION_BACKWARD_QUERY_TILED, Kernel.ATTENTION_BACKWARD_KEY_VALUE_TILED)) {
                launch(kernel, attentionTiles(seqLen), rowsTimesHeads, 0, seqLen, heads, d, (float) scale,
                        bounds.starts(), bounds.ends(), cq, cg, cl, delta, cd);
            }
            return;
        }
        launch(Kernel.ATTENTION_BACKWARD_QUERY, queries, 1, (long) bounds.longest() * Double.BYTES, seqLen, heads, d, scale,
                bounds.starts(), bounds.ends(), cq, cg, cl, delta, cd);
        launch(Kernel.ATTENTION_BACKWARD_KEY_VALUE, queries, 1, 2L * bounds.longest() * Double.BYTES, seqLen, heads, d, scale,
                bounds.starts(), bounds.ends(), cq, cg, cl, delta, cd);
    }

    // ---- output head --------------------------------------------------------------

    @Override
    public void softmax(Tensor logits, Tensor probs) {
        CudaTensor cl = cuda(logits), cp = cuda(probs);
        requireSameSize(cl, cp, "softmax");
        launchRowwise(Kernel.SOFTMAX, cl.rows(), cl.lastDim(), cl, cp);
    }

    @Override
    public int[] argmaxRows(Tensor t) {
        CudaTensor c = cuda(t);
        int width = c.lastDim(), rows = width == 0 ? 0 : Math.toIntExact(c.numel() / width);
        if (rows == 0) return new int[0];
        long found = workspace.reserve((long) rows * Double.BYTES);
        launchRowwise(Kernel.ARGMAX_ROWS, rows, width, c, found);
        double[] columns = downloadDoubles(found, rows);
        int[] best = new int[rows];
        for (int r = 0; r < rows; r++) best[r] = (int) columns[r];
        return best;
    }

    @Override
    public double[] crossEntropy(Tensor logits, int[] targets) {
        CudaTensor cl = cuda(logits);
        int vocabulary = cl.lastDim();
        if (targets.length != cl.rows()) throw new IllegalArgumentException("crossEntropy: " + targets.length + " targets for " + cl.rows() + " rows");
        checkIds(targets, vocabulary);
        if (targets.length == 0) return new double[0];
        long[] staged = stage(targets);
        long losses = workspace.reserve((long) targets.length * Double.BYTES);
        launchRowwise(Kernel.CROSS_ENTROPY, targets.length, vocabulary, cl, staged[0], losses);
        return downloadDoubles(losses, targets.length);
    }

    @Override
    public void crossEntropyBackward(Tensor probs, int[] targets, float[] rowScale, Tensor dLogits) {
        CudaTensor cp = cuda(probs);
        int vocabulary = cp.lastDim();
        int rows = Math.toIntExact(cp.rows());
        if (targets.length != rows) throw new IllegalArgumentException("crossEntropyBackward: " + targets.length + " targets for " + rows + " rows");
        checkIds(targets, vocabulary);
        if (rows == 0) return;
        long[] staged = stage(targets, bits(rowScale));
        launchRowwise(Kernel.CROSS_ENTROPY_BACKWARD, rows, vocabulary, rows / rowScale.length, cp, staged[0], staged[1], cuda(dLogits));
    }

    @Override
    public void softmaxBackward(Tensor probs, Tensor dProbs, Tensor dLogits, boolean accumulate) {
        CudaTensor cp = cuda(probs);
        launchRowwise(Kernel.SOFTMAX_BACKWARD, cp.rows(), cp.lastDim(), cp, cuda(dProbs), cuda(dLogits), accumulate);
    }

    // ---- embeddings ---------------------------------------------------------------

    @Override
    public void gather(Tensor table, int[] ids, Tensor out) {
        CudaTensor ct = cuda(table);
        int width = ct.lastDim();
        checkIds(ids, Math.toIntExact(ct.rows()));
        if (ids.length == 0) return;
        long[] staged = stage(ids);
        launchElementwise(Kernel.GATHER, (long) ids.length * width, width, staged[0], ct, cuda(out));
    }

    @Override
    public void scatterAdd(Tensor dOut, int[] ids, Tensor dTable) {
        CudaTensor ct = cuda(dTable);
        int width = ct.lastDim();
        checkIds(ids, Math.toIntExact(ct.rows()));
        if (ids.length == 0) return;
        long[] staged = stage(ids);
        launchElementwise(Kernel.SCATTER_ADD, (long) ids.length * width, width, staged[0], cuda(dOut), ct);
    }

    // ---- optimiser ----------------------------------------------------------------

    @Override
    public void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                      float decay, int step) {
        CudaTensor cp = cuda(param), cg = cuda(grad);
        requireSameSize(cp, cg, "adamW");
        // the bias corrections in double, as the reference computes them
        double biasCorrection1 = 1 - Math.pow(beta1, step), biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        float stepSize = (float) (lr / biasCorrection1);
        launchElementwise(Kernel.ADAM_W, cp.numel(), cp, cg, cuda(m), cuda(v), beta1, beta2, eps, decay, stepSize, biasCorrection2Sqrt);
    }
}

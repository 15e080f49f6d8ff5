package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.util.Optional;
import plaid.backend.cuda.bind.Cublas;
import plaid.backend.cuda.bind.CudaDriver;
import plaid.backend.cuda.bind.Nvrtc;

/**
 * One device's primary context and the one stream all of a backend's work is queued on. The
 * stream is created with default flags, so it synchronises with the legacy default stream that
 * the synchronous cuMemcpy and cuMemset calls use: a copy waits for the kernels before it and
 * kernels after it wait for the copy, without explicit synchronisation.
 */
final class CudaDevice {
    final int ordinal;
    private final int handle;
    private final MemorySegment context;
    private final MemorySegment stream;
    private final int computeCapability;
    private final String name;
    private final long totalMemory;

    /** Why this machine cannot run the backend, probed once: missing libraries, no driver, no device. */
    private static final class Probe {
        static final String UNAVAILABLE_REASON = probe();

        private static String probe() {
            try {
                MethodHandles.lookup().ensureInitialized(Nvrtc.class);
                MethodHandles.lookup().ensureInitialized(Cublas.class);
                CudaDriver.check(CudaDriver.cuInit(0), "cuInit");
                handle(Integer.getInteger(CudaOptions.DEVICE_PROPERTY, 0));
                return null;
            } catch (ExceptionInInitializerError e) {
                return e.getCause() != null ? e.getCause().getMessage() : e.toString();
            } catch (CudaException | IllegalAccessException | LinkageError e) {
                return e.getMessage();
            }
        }
    }

    /** Empty when a CUDA device and the libraries (driver, NVRTC, cuBLAS) are there; otherwise why not. */
    static Optional<String> unavailableReason() {
        return Optional.ofNullable(Probe.UNAVAILABLE_REASON);
    }

    /** @throws CudaException naming what is missing when the probe failed */
    CudaDevice(int ordinal) {
        unavailableReason().ifPresent(reason -> {
            throw new CudaException("CUDA backend unavailable: " + reason);
        });
        this.ordinal = ordinal;
        handle = handle(ordinal);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(ADDRESS);
            CudaDriver.check(CudaDriver.cuDevicePrimaryCtxRetain(slot, handle), "cuDevicePrimaryCtxRetain");
            context = slot.get(ADDRESS, 0);
            bind();
            CudaDriver.check(CudaDriver.cuStreamCreate(slot, CudaDriver.CU_STREAM_DEFAULT), "cuStreamCreate");
            stream = slot.get(ADDRESS, 0);
            MemorySegment value = arena.allocate(JAVA_INT);
            CudaDriver.check(
                    CudaDriver.cuDeviceGetAttribute(
                            value, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, handle),
                    "cuDeviceGetAttribute");
            int major = value.get(JAVA_INT, 0);
            CudaDriver.check(
                    CudaDriver.cuDeviceGetAttribute(
                            value, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, handle),
                    "cuDeviceGetAttribute");
            computeCapability = major * 10 + value.get(JAVA_INT, 0);
            MemorySegment text = arena.allocate(256);
            CudaDriver.check(CudaDriver.cuDeviceGetName(text, 256, handle), "cuDeviceGetName");
            name = text.getString(0);
            MemorySegment bytes = arena.allocate(JAVA_LONG);
            CudaDriver.check(CudaDriver.cuDeviceTotalMem(bytes, handle), "cuDeviceTotalMem_v2");
            totalMemory = bytes.get(JAVA_LONG, 0);
        }
    }

    private static int handle(int ordinal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(JAVA_INT);
            CudaDriver.check(CudaDriver.cuDeviceGet(slot, ordinal), "cuDeviceGet(" + ordinal + ")");
            return slot.get(JAVA_INT, 0);
        }
    }

    /** The device's memory in bytes, as the driver reports it. */
    long totalMemory() {
        return totalMemory;
    }

    /** Makes the context current on the calling thread; every entry point starts here. */
    void bind() {
        CudaDriver.check(CudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    MemorySegment stream() {
        return stream;
    }

    /** major·10 + minor, e.g. 90 for sm_90. */
    int computeCapability() {
        return computeCapability;
    }

    String name() {
        return name;
    }

    /** Waits for the work queued on the stream, reporting any error a kernel raised. */
    void synchronizeStream() {
        bind();
        CudaDriver.check(CudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    /** Waits for the stream and the legacy default stream that the memcpy calls use. */
    void synchronizeAll() {
        bind();
        CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    /** After everything else of the backend is released. */
    void close() {
        CudaDriver.cuStreamDestroy(stream);
        CudaDriver.cuDevicePrimaryCtxRelease(handle);
    }
}

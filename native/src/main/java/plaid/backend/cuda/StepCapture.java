package plaid.backend.cuda;

import java.lang.foreign.MemorySegment;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import plaid.backend.cuda.bind.CudaDriver;
import plaid.backend.cuda.bind.CudaGraphs;

/**
 * What the {@link Launcher} and {@link DeviceMemory} do differently while a {@link CapturedStep} runs its body
 * on this thread: while it is captured, every operation is traced and queued onto the capturing stream (host
 * data through the step's {@link StepArena}); while it is replayed, every operation is checked against the
 * trace and nothing is queued (host data is written into the arena); while its direct run is measured, the
 * host data's bytes are counted. Outside a step, on other threads, and for the cleaner's frees, nothing
 * changes. Also the registry of the steps' native resources, which the backend frees when closed.
 *
 * <p>A capture is checked after every operation ({@link #check}, {@link #library}): the first one that fails, or
 * after which the stream's capture no longer holds, ends it with an {@link Unsupported} naming that operation. A
 * call that breaks a capture may itself report success (a library that falls back after an allocation the
 * capture refused), and every call after it then fails with CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, which would
 * blame the wrong one.
 */
final class StepCapture {
    enum Mode {
        CAPTURE,
        REPLAY,
        MEASURE
    }

    /** Thrown inside a capture by an operation a graph cannot hold: the step is run directly instead. */
    static final class Unsupported extends RuntimeException {
        Unsupported(String what) {
            super(what, null, false, false);
        }
    }

    /** Thrown inside a replay when the body's work differs from the recording: the step is run directly instead. */
    static final class Stale extends RuntimeException {
        Stale(String what) {
            super(what, null, false, false);
        }
    }

    private Thread owner;
    private Mode mode;
    /** While work that belongs before the step runs inside a replay ({@link #beforeStep}). */
    private boolean suspended;

    private StepTrace trace;
    private StepArena arena;
    private long measured;
    /** Inside a capture: the latest operation after which the capture still held (null: none yet). */
    private String lastHolding;

    private final Set<CapturedStep.Resources> live = ConcurrentHashMap.newKeySet();

    void begin(Mode mode, StepTrace trace, StepArena arena) {
        if (owner != null) throw new IllegalStateException("a step is already being captured or replayed");
        this.owner = Thread.currentThread();
        this.mode = mode;
        this.trace = trace;
        this.arena = arena;
        this.measured = 0;
        this.suspended = false;
        this.lastHolding = null;
    }

    void end() {
        owner = null;
        mode = null;
        trace = null;
        arena = null;
    }

    /** Whether a step's body runs on this thread (in any mode). */
    boolean active() {
        return owner == Thread.currentThread();
    }

    /** Whether this thread's operations are traced: a capture or a replay. */
    boolean recording() {
        return owner == Thread.currentThread() && mode != Mode.MEASURE && !suspended;
    }

    /** Whether this thread's operations go into a graph being captured. */
    boolean capturing() {
        return recording() && mode == Mode.CAPTURE;
    }

    /** Whether this thread's operations are checked and not queued. */
    boolean replaying() {
        return owner == Thread.currentThread() && mode == Mode.REPLAY && !suspended;
    }

    /**
     * Runs work the step needs done before it but not each time (a read-only tensor's bf16 copy, made at its
     * first use in a {@code withReadOnly} session): inside a replay it is allocated and queued at once, ahead of
     * the graph, untraced; a capture cannot hold it (the step is run directly, which makes it, and captured
     * later); elsewhere it just runs.
     */
    long beforeStep(java.util.function.LongSupplier work) {
        if (!recording()) return work.getAsLong();
        if (mode == Mode.CAPTURE) throw new Unsupported("the step makes a read-only tensor's bf16 copy");
        suspended = true;
        try {
            return work.getAsLong();
        } finally {
            suspended = false;
        }
    }

    StepTrace trace() {
        return trace;
    }

    /**
     * Refuses an operation a graph cannot hold (a device allocation or free, a read back to the host): it ends
     * a capture, and a replay whose recording did not hold it is stale. Does nothing outside a step.
     */
    void refuse(String what) {
        if (!recording()) return;
        if (mode == Mode.CAPTURE) throw new Unsupported("the step " + what);
        throw new Stale("the step " + what + ", which its recording did not");
    }

    /**
     * After a driver call that queued {@code op} on {@code stream}: outside a capture, throws a
     * {@link CudaException} unless {@code result} is CUDA_SUCCESS; inside one, an {@link Unsupported} naming the
     * operation that broke the capture, if it no longer holds.
     */
    void check(int result, String op, MemorySegment stream) {
        if (!capturing()) {
            CudaDriver.check(result, op);
            return;
        }
        String failure = null;
        if (result != 0) {
            try {
                CudaDriver.check(result, op);
            } catch (CudaException e) {
                failure = e.getMessage();
            }
        }
        requireHolds(op, result, failure, stream);
    }

    /** Runs a library call that queues work on {@code stream} (it throws when it fails), checked as {@link #check}. */
    void library(Runnable call, Supplier<String> op, MemorySegment stream) {
        if (!capturing()) {
            call.run();
            return;
        }
        String failure = null;
        try {
            call.run();
        } catch (CudaException e) {
            failure = e.getMessage();
        }
        requireHolds(op.get(), 0, failure, stream);
    }

    private void requireHolds(String op, int result, String failure, MemorySegment stream) {
        int status = failure == null ? CudaGraphs.captureStatus(stream) : CudaGraphs.CAPTURE_STATUS_INVALIDATED;
        String broken = breakage(op, result, failure, status, lastHolding);
        if (broken != null) throw new Unsupported(broken);
        lastHolding = op;
    }

    /**
     * Why a capture ended at {@code op}, or null while it holds: {@code result} is the call's CUresult (0 for a
     * library call), {@code failure} its error (null: it reported success), {@code status} the stream's capture
     * status after it (a negative CUresult: the query failed), {@code previous} the latest operation after which
     * the capture held (null: none).
     */
    static String breakage(String op, int result, String failure, int status, String previous) {
        String after = previous == null ? "the start of the capture" : previous;
        if (result == CudaGraphs.CUDA_ERROR_STREAM_CAPTURE_INVALIDATED)
            return "the capture was already broken when " + op + " was queued (CUresult 901): it broke after " + after
                    + ", which reported success; that call, or a call of another thread on this context in between (a"
                    + " free, a synchronisation, a synchronous copy on the legacy stream), did what a capture forbids";
        if (failure != null) return op + " failed in the capture (the operation before it: " + after + "): " + failure;
        if (status == CudaGraphs.CAPTURE_STATUS_ACTIVE) return null;
        if (status < 0) return "cuStreamIsCapturing failed after " + op + " (CUresult " + -status + ")";
        return op + " reported success but broke the capture (capture status " + status + "; the operation before it: "
                + after + "): it, or a call of another thread on this context meanwhile, did what a capture forbids";
    }

    /** A measured direct run: counts the arena bytes of a piece of host data. */
    void measure(long bytes) {
        if (owner == Thread.currentThread() && mode == Mode.MEASURE) measured += StepArena.footprint(bytes);
    }

    /** The arena bytes counted since {@link #begin}. */
    long measured() {
        return measured;
    }

    /**
     * An upload inside a step: its values in the arena, and (captured) a copy from the arena's device buffer to
     * {@code dst} on the stream.
     */
    void upload(float[] src, CudaTensor dst, MemorySegment stream) {
        long bytes = dst.numel() * Float.BYTES;
        trace.put(StepTrace.UPLOAD);
        trace.put(dst.address());
        trace.put(bytes);
        if (trace.replaying()) {
            arena.writeUpload(trace.recorded(0), src);
            return;
        }
        long offset = trace.recorded(arena.placeUpload(src));
        check(
                CudaDriver.cuMemcpyDtoDAsync(dst.address(), arena.device + offset, bytes, stream),
                "the upload of " + bytes + " bytes (cuMemcpyDtoDAsync_v2 from the step's arena)",
                stream);
    }

    /** A staged array inside a step: its place in the arena, which the copy before each launch fills. */
    long stage(int[] values) {
        trace.put(StepTrace.STAGE);
        trace.put(values.length);
        if (trace.replaying()) {
            long offset = trace.recorded(0);
            arena.writeStaged(offset, values);
            return arena.device + offset;
        }
        return arena.device + trace.recorded(arena.placeStaged(values));
    }

    void register(CapturedStep.Resources resources) {
        live.add(resources);
    }

    void unregister(CapturedStep.Resources resources) {
        live.remove(resources);
    }

    /** At close: frees every step's graph, event and arena. */
    void releaseAll() {
        for (CapturedStep.Resources r : live) r.release();
        live.clear();
    }
}

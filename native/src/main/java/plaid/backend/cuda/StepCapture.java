package plaid.backend.cuda;

import java.lang.foreign.MemorySegment;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import plaid.backend.cuda.bind.CudaDriver;

/**
 * What the {@link Launcher} and {@link DeviceMemory} do differently while a {@link CapturedStep} runs its body
 * on this thread: while it is captured, every operation is traced and queued onto the capturing stream (host
 * data through the step's {@link StepArena}); while it is replayed, every operation is checked against the
 * trace and nothing is queued (host data is written into the arena); while its direct run is measured, the
 * host data's bytes are counted. Outside a step, on other threads, and for the cleaner's frees, nothing
 * changes. Also the registry of the steps' native resources, which the backend frees when closed.
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
    private final Set<CapturedStep.Resources> live = ConcurrentHashMap.newKeySet();

    void begin(Mode mode, StepTrace trace, StepArena arena) {
        if (owner != null) throw new IllegalStateException("a step is already being captured or replayed");
        this.owner = Thread.currentThread();
        this.mode = mode;
        this.trace = trace;
        this.arena = arena;
        this.measured = 0;
        this.suspended = false;
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
        CudaDriver.check(
                CudaDriver.cuMemcpyDtoDAsync(dst.address(), arena.device + offset, bytes, stream),
                "cuMemcpyDtoDAsync_v2");
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

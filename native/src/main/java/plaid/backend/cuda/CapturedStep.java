package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import plaid.backend.StepGraph;
import plaid.backend.cuda.bind.CudaDriver;
import plaid.backend.cuda.bind.CudaGraphs;

/**
 * A {@link StepGraph} on CUDA graphs. Its first run is direct, which compiles the kernels, plans the products,
 * sizes the scratch buffers, makes the read-only bf16 copies and measures the step's host data. The second is
 * captured: its body's operations go into a graph, host data into a {@link StepArena}, and the graph is
 * instantiated and launched. Every later run replays it: the body runs again on the host with nothing queued,
 * each operation checked against the capture's {@link StepTrace} and its host data written into the arena;
 * then one copy fills the arena's device buffer and one launch runs the whole step.
 *
 * <p>A replay whose body queues anything else (another tensor, a scratch buffer that moved, a new allocation)
 * is stale: the graph is dropped, the body runs directly and the next run captures anew. A capture that fails
 * (the body reads back to the host, or allocates, or a call breaks the capture: the first such operation is
 * named, {@link #lastFallback}) is followed by a direct run. After
 * {@value #MAX_FAILED_CAPTURES} failed captures or {@value #MAX_STALE_REPLAYS} stale replays with no replay
 * in between the step stays direct. A new {@code withReadOnly} session's bf16 copies of the weights are made
 * ahead of the first replay that reads them ({@link StepCapture#beforeStep}); where they land elsewhere than
 * the recording's, that replay is stale. Profiling ({@link OpProfile}) runs steps directly, as it times each
 * operation.
 */
final class CapturedStep implements StepGraph {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final System.Logger LOG = System.getLogger(CapturedStep.class.getName());
    private static final java.util.concurrent.atomic.AtomicBoolean WARNED =
            new java.util.concurrent.atomic.AtomicBoolean();
    static final int MAX_FAILED_CAPTURES = 2;
    static final int MAX_STALE_REPLAYS = 8;

    /** The native side of a step, freed when the step is unreachable or the backend is closed. */
    static final class Resources implements Runnable {
        private final DeviceMemory memory;
        private final StepCapture steps;
        MemorySegment exec = MemorySegment.NULL;
        MemorySegment event = MemorySegment.NULL;
        StepArena arena;
        private boolean released;

        Resources(DeviceMemory memory, StepCapture steps) {
            this.memory = memory;
            this.steps = steps;
        }

        /** Waits for the latest launch, then destroys the executable graph. */
        void dropGraph() {
            if (exec.equals(MemorySegment.NULL)) return;
            if (!event.equals(MemorySegment.NULL)) CudaDriver.cuEventSynchronize(event);
            CudaGraphs.cuGraphExecDestroy(exec);
            exec = MemorySegment.NULL;
        }

        /** The cleaner's action: frees what the step holds unless the backend's close did. */
        @Override
        public void run() {
            memory.unlessClosed(() -> {
                release();
                steps.unregister(this);
            });
        }

        synchronized void release() {
            if (released) return;
            released = true;
            dropGraph();
            if (!event.equals(MemorySegment.NULL)) CudaDriver.cuEventDestroy(event);
            if (arena != null) arena.free(memory);
        }
    }

    private final CudaDevice device;
    private final DeviceMemory memory;
    private final Bf16Handoff handoff;
    private final OpProfile profile;
    private final StepCapture steps;
    private final Resources resources;

    /** The arena bytes the latest direct run measured; negative before the first. */
    private long measuredBytes = -1;

    private StepTrace trace;
    /** Why the latest capture failed or replay went stale; null before any did. */
    private String lastFallback;

    private int failedCaptures, staleReplays;
    private boolean direct;
    private long captures, replays;

    CapturedStep(CudaParts parts) {
        this.device = parts.device;
        this.memory = parts.memory;
        this.handoff = parts.handoff;
        this.profile = parts.profile;
        this.steps = parts.steps;
        this.resources = new Resources(memory, steps);
        steps.register(resources);
        CLEANER.register(this, resources);
    }

    @Override
    public void run(Runnable body) {
        if (direct || profile.enabled() || steps.active()) {
            body.run(); // a step inside another's body is part of that one's recording
        } else if (trace != null) {
            replay(body);
        } else if (measuredBytes < 0) {
            runMeasured(body);
        } else {
            capture(body);
        }
    }

    /** Runs that replayed the graph. */
    @Override
    public long replays() {
        return replays;
    }

    /** Runs that captured a graph. */
    long captures() {
        return captures;
    }

    /** Why the latest capture failed or replay went stale, naming the operation (see {@link StepCapture#check}). */
    @Override
    public java.util.Optional<String> lastFallback() {
        return java.util.Optional.ofNullable(lastFallback);
    }

    /** Whether the step gave up on graphs and runs every body directly. */
    boolean runsDirectly() {
        return direct;
    }

    private void runMeasured(Runnable body) {
        handoff.forget(); // every run of the step starts alike (and none takes a copy a dropped run recorded)
        steps.begin(StepCapture.Mode.MEASURE, null, null);
        try {
            body.run();
            measuredBytes = steps.measured();
        } finally {
            steps.end();
        }
    }

    private void capture(Runnable body) {
        device.bind();
        prepareArenaAndEvent();
        String failure = memory.holdingFrees(() -> tryCapture(body));
        if (failure == null) {
            captures++;
            failedCaptures = 0;
            launch();
            return;
        }
        // nothing of the captured body ran: run it directly, which also measures again
        failedCaptures++;
        lastFallback = "capture " + failedCaptures + " failed: " + failure;
        // at INFO: rare (a step gives up after a few), and what names the operation a graph cannot hold
        LOG.log(System.Logger.Level.INFO, () -> "a step could not be captured as a CUDA graph: " + failure);
        if (failedCaptures >= MAX_FAILED_CAPTURES)
            giveUp("its capture failed " + failedCaptures + " times: " + failure);
        runMeasured(body);
    }

    /** An arena of the measured size (a larger one when it grew) and the event that marks a launch's end. */
    private void prepareArenaAndEvent() {
        long needed = Math.max(StepArena.ALIGNMENT, measuredBytes);
        if (resources.arena == null || resources.arena.capacity < needed) {
            if (resources.arena != null) resources.arena.free(memory);
            resources.arena = null;
            resources.arena = new StepArena(memory, needed);
        }
        if (resources.event.equals(MemorySegment.NULL)) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment slot = arena.allocate(ADDRESS);
                CudaDriver.check(CudaDriver.cuEventCreate(slot, CudaDriver.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
                resources.event = slot.get(ADDRESS, 0);
            }
        }
    }

    /** Captures the body into {@link Resources#exec} and its trace; null when it worked, else why not. */
    private String tryCapture(Runnable body) {
        StepTrace recording = new StepTrace();
        resources.arena.reset();
        handoff.forget();
        MemorySegment stream = device.stream();
        int begun = CudaGraphs.cuStreamBeginCapture(stream, CudaGraphs.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        if (begun != 0) return "cuStreamBeginCapture_v2 failed (CUresult " + begun + ")";
        String failure = null;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment graphSlot = arena.allocate(ADDRESS);
            try {
                steps.begin(StepCapture.Mode.CAPTURE, recording, resources.arena);
                try {
                    body.run();
                } catch (RuntimeException e) {
                    failure = e.getMessage() == null ? e.toString() : e.getMessage();
                } finally {
                    steps.end();
                }
            } finally {
                // always ends the capture, so that the stream runs work again whatever happened
                int ended = CudaGraphs.cuStreamEndCapture(stream, graphSlot);
                if (ended != 0 && failure == null) failure = "cuStreamEndCapture failed (CUresult " + ended + ")";
            }
            MemorySegment graph = graphSlot.get(ADDRESS, 0);
            if (failure != null) {
                if (!graph.equals(MemorySegment.NULL)) CudaGraphs.cuGraphDestroy(graph);
                return failure;
            }
            MemorySegment execSlot = arena.allocate(ADDRESS);
            int instantiated = CudaGraphs.cuGraphInstantiate(execSlot, graph, 0);
            CudaGraphs.cuGraphDestroy(graph); // the executable graph keeps what it needs
            if (instantiated != 0) return "cuGraphInstantiateWithFlags failed (CUresult " + instantiated + ")";
            resources.exec = execSlot.get(ADDRESS, 0);
        }
        trace = recording;
        return null;
    }

    private void replay(Runnable body) {
        device.bind();
        // the previous launch has copied the arena's host buffer, which this run overwrites
        CudaDriver.check(CudaDriver.cuEventSynchronize(resources.event), "cuEventSynchronize");
        resources.arena.beginReplay();
        trace.rewind();
        handoff.forget();
        StepCapture.Stale stale = null;
        steps.begin(StepCapture.Mode.REPLAY, trace, resources.arena);
        try {
            body.run();
            trace.requireComplete();
        } catch (StepCapture.Stale e) {
            stale = e;
        } catch (RuntimeException | Error e) {
            handoff.forget(); // no bf16 copy recorded as made in this run was written
            throw e;
        } finally {
            steps.end();
        }
        if (stale == null) {
            replays++;
            staleReplays = 0;
            failedCaptures = 0;
            launch();
            return;
        }
        // nothing of this run reached the device: run it directly and capture anew next time
        String why = stale.getMessage();
        lastFallback = "a replay went stale: " + why;
        LOG.log(System.Logger.Level.DEBUG, () -> "a recorded step is stale (" + why + "); it runs directly");
        resources.dropGraph();
        trace = null;
        if (++staleReplays >= MAX_STALE_REPLAYS) giveUp("its recording went stale " + staleReplays + " times: " + why);
        runMeasured(body);
    }

    /** The arena's host data onto the device, the graph, and the event that marks its end, all on the stream. */
    private void launch() {
        MemorySegment stream = device.stream();
        StepArena arena = resources.arena;
        if (arena.used() > 0)
            CudaDriver.check(
                    CudaDriver.cuMemcpyHtoDAsync(arena.device, arena.host(), arena.used(), stream),
                    "cuMemcpyHtoDAsync_v2");
        CudaDriver.check(CudaGraphs.cuGraphLaunch(resources.exec, stream), "cuGraphLaunch");
        CudaDriver.check(CudaDriver.cuEventRecord(resources.event, stream), "cuEventRecord");
    }

    private void giveUp(String why) {
        direct = true;
        resources.dropGraph();
        trace = null;
        // once at WARNING: a model whose step cannot be recorded (a head that reads back) gives up in every sampler
        LOG.log(
                WARNED.getAndSet(true) ? System.Logger.Level.DEBUG : System.Logger.Level.WARNING,
                () -> "a repeated step runs without a CUDA graph from now on: " + why);
    }
}

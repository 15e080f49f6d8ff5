package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import plaid.backend.Collective;
import plaid.backend.cuda.bind.CudaDriver;
import plaid.backend.cuda.bind.CudaStreamOrder;

/**
 * A rank's communication stream beside its backend's compute stream, so that NCCL reduces the
 * gradients the backward has finished while the backward's kernels go on (DDP's overlap). Events
 * order the two streams without the host waiting: a collective waits for the compute work queued
 * before it (its inputs), and the compute work queued after {@link #computeAfterComm} or {@link
 * #awaitBucket} waits for it (its readers).
 *
 * <p>Non-blocking, so the synchronous copies and fills the backend queues on the legacy stream
 * during the backward do not wait for a reduction in flight. The compute stream is a blocking one:
 * legacy-stream work queued after it waits for a collective waits for that collective too.
 */
final class CommStream implements AutoCloseable {
    private final CudaBackend backend;
    private final MemorySegment stream;
    /** Untimed, for host values and broadcasts: compute → comm, comm → compute. */
    private final MemorySegment computed, communicated;
    /** Timed, buckets only: the latest one's inputs ready (on compute), its end and the span's start (on comm). */
    private final MemorySegment bucketReady, bucketDone, spanStart;
    /** Whether a bucket started since the last {@link #takeTimes}. */
    private boolean spanOpen;
    /** Buckets queued, and how many of them the compute stream already waits for. */
    private long queued, awaited;

    CommStream(CudaBackend backend) {
        this.backend = backend;
        backend.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(ADDRESS);
            CudaDriver.check(CudaDriver.cuStreamCreate(slot, CudaStreamOrder.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
            stream = slot.get(ADDRESS, 0);
            computed = event(slot, CudaDriver.CU_EVENT_DISABLE_TIMING);
            communicated = event(slot, CudaDriver.CU_EVENT_DISABLE_TIMING);
            bucketReady = event(slot, CudaStreamOrder.CU_EVENT_DEFAULT);
            bucketDone = event(slot, CudaStreamOrder.CU_EVENT_DEFAULT);
            spanStart = event(slot, CudaStreamOrder.CU_EVENT_DEFAULT);
        }
    }

    private static MemorySegment event(MemorySegment slot, int flags) {
        CudaDriver.check(CudaDriver.cuEventCreate(slot, flags), "cuEventCreate");
        return slot.get(ADDRESS, 0);
    }

    /** The stream NCCL's calls go on. */
    MemorySegment handle() {
        return stream;
    }

    /** {@code waiter}'s later work waits for the work queued on {@code recorder} so far. */
    private static void order(MemorySegment event, MemorySegment recorder, MemorySegment waiter) {
        CudaDriver.check(CudaDriver.cuEventRecord(event, recorder), "cuEventRecord");
        CudaDriver.check(CudaStreamOrder.cuStreamWaitEvent(waiter, event, 0), "cuStreamWaitEvent");
    }

    /** The comm stream's next work waits for the compute work queued so far (and the legacy stream's before it). */
    void commAfterCompute() {
        backend.makeCurrent();
        order(computed, backend.stream(), stream);
    }

    /** The compute stream's next work waits for the comm stream's work queued so far. */
    void computeAfterComm() {
        backend.makeCurrent();
        order(communicated, stream, backend.stream());
    }

    /** Before a bucket's reduction is queued: it waits for the compute work so far (the gradients it reads). */
    void startBucket() {
        backend.makeCurrent();
        order(bucketReady, backend.stream(), stream);
        if (!spanOpen) CudaDriver.check(CudaDriver.cuEventRecord(spanStart, stream), "cuEventRecord");
        spanOpen = true;
    }

    /** After a bucket's reduction is queued: its number, for {@link #awaitBucket}. */
    long endBucket() {
        CudaDriver.check(CudaDriver.cuEventRecord(bucketDone, stream), "cuEventRecord");
        return ++queued;
    }

    /**
     * The compute stream's next work waits for bucket {@code number}: for every bucket queued so
     * far (the comm stream runs them in order), so a step's later awaits add nothing.
     */
    void awaitBucket(long number) {
        if (number <= awaited) return;
        backend.makeCurrent();
        CudaDriver.check(CudaStreamOrder.cuStreamWaitEvent(backend.stream(), bucketDone, 0), "cuStreamWaitEvent");
        awaited = queued;
    }

    /**
     * The buckets since the last call: from the first one's start on the comm stream to the last
     * one's end, and the part of that after the last one's inputs were ready (the end of the
     * backward: all of it when every bucket started then); waits for that end. Zero when no
     * bucket ran.
     */
    Collective.ReductionTimes takeTimes() {
        if (!spanOpen) return new Collective.ReductionTimes(0, 0);
        spanOpen = false;
        backend.makeCurrent();
        CudaDriver.check(CudaDriver.cuEventSynchronize(bucketDone), "cuEventSynchronize");
        double span = seconds(spanStart, bucketDone);
        return new Collective.ReductionTimes(span, Math.min(span, seconds(bucketReady, bucketDone)));
    }

    private static double seconds(MemorySegment start, MemorySegment end) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ms = arena.allocate(JAVA_FLOAT);
            CudaDriver.check(CudaStreamOrder.cuEventElapsedTime(ms, start, end), "cuEventElapsedTime");
            return ms.get(JAVA_FLOAT, 0) / 1e3;
        }
    }

    /** Waits for the work queued on the comm stream. */
    void synchronize() {
        backend.makeCurrent();
        CudaDriver.check(CudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    /** Work still queued ends on its own; the driver frees the stream and the events once it has. */
    @Override
    public void close() {
        backend.makeCurrent();
        for (MemorySegment e : new MemorySegment[] {computed, communicated, bucketReady, bucketDone, spanStart})
            CudaDriver.cuEventDestroy(e);
        CudaDriver.cuStreamDestroy(stream);
    }
}

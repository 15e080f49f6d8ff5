package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import plaid.backend.cuda.bind.CudaDriver;

/**
 * Where a {@link CapturedStep}'s host data goes: the values it uploads and the small arrays its kernels read
 * ({@link DeviceMemory#stage}). Each has a fixed place in a page-locked host buffer and the same place in a
 * device buffer; the graph's kernels and copies read the device buffer, which one asynchronous copy of the
 * host buffer fills before each launch. A capture lays the pieces out; a replay writes the step's new values
 * into the same places. Copies of one staged array (the segment bounds every block stages) share a piece.
 */
final class StepArena {
    /** Every piece starts at a multiple of this, as cuMemAlloc's allocations do (kernels may read wide words). */
    static final long ALIGNMENT = 256;

    final long capacity;
    /** The device buffer's address. */
    final long device;

    private final MemorySegment host;
    private long used;
    /** Capture: where each distinct staged array went. */
    private final Map<DeviceMemory.ArrayKey, Long> staged = new HashMap<>();
    /** Replay: the replay that last wrote each staged piece (by offset), so a shared piece is written once. */
    private final Map<Long, Long> writtenBy = new HashMap<>();

    private long replay;

    /** The bytes a piece of {@code bytes} takes, as {@link #place} lays it out. */
    static long footprint(long bytes) {
        return (Math.max(bytes, Integer.BYTES) + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    StepArena(DeviceMemory memory, long capacity) {
        this.capacity = capacity;
        this.device = memory.alloc(capacity);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(ADDRESS);
            int result = CudaDriver.cuMemAllocHost(slot, capacity);
            if (result != 0) memory.free(device, capacity);
            CudaDriver.check(result, "cuMemAllocHost_v2(" + capacity + " bytes)");
            host = slot.get(ADDRESS, 0).reinterpret(capacity);
        }
    }

    /** The page-locked host buffer, which the copy before each launch reads. */
    MemorySegment host() {
        return host;
    }

    /** Bytes laid out by the latest capture: what the copy before each launch moves. */
    long used() {
        return used;
    }

    /** Before a capture: forgets the previous layout. */
    void reset() {
        used = 0;
        staged.clear();
        writtenBy.clear();
    }

    /** Before a replay's body. */
    void beginReplay() {
        replay++;
    }

    /** Capture: the offset of a new piece of {@code bytes}. */
    private long place(long bytes) {
        long offset = used, end = offset + footprint(bytes);
        if (end > capacity)
            throw new StepCapture.Unsupported(
                    "its host data outgrew the " + capacity + " bytes its direct run measured");
        used = end;
        return offset;
    }

    /** Capture: places an upload's values; returns their offset. */
    long placeUpload(float[] values) {
        long offset = place((long) values.length * Float.BYTES);
        writeUpload(offset, values);
        return offset;
    }

    /** Capture and replay: an upload's values at {@code offset}. */
    void writeUpload(long offset, float[] values) {
        MemorySegment.copy(values, 0, host, JAVA_FLOAT, offset, values.length);
    }

    /** Capture: places a staged array, or finds the piece an equal one already has; returns its offset. */
    long placeStaged(int[] values) {
        Long found = staged.get(new DeviceMemory.ArrayKey(values));
        if (found != null) return found;
        long offset = place((long) values.length * Integer.BYTES);
        MemorySegment.copy(values, 0, host, JAVA_INT, offset, values.length);
        staged.put(new DeviceMemory.ArrayKey(values.clone()), offset);
        return offset;
    }

    /**
     * Replay: a staged array's values at the piece its recording gave it. A piece the recording shared between
     * equal arrays is written by the first of them; the others must hold the same values.
     */
    void writeStaged(long offset, int[] values) {
        long bytes = (long) values.length * Integer.BYTES;
        Long writer = writtenBy.put(offset, replay);
        if (writer != null && writer == replay) {
            if (MemorySegment.mismatch(MemorySegment.ofArray(values), 0, bytes, host, offset, offset + bytes) != -1)
                throw new StepCapture.Stale("arrays the recording staged once now differ");
            return;
        }
        MemorySegment.copy(values, 0, host, JAVA_INT, offset, values.length);
    }

    void free(DeviceMemory memory) {
        memory.free(device, capacity);
        CudaDriver.cuMemFreeHost(host);
    }
}

package plaid.backend.cuda;

import java.util.Arrays;

/**
 * Every operation a {@link CapturedStep} queued while it was captured, as a flat list of numbers: its kind, and
 * everything that decides what it does on the device (kernel, grid, each argument's bits; a library call's
 * pointers and scalars; a copy's addresses and length). A replay runs the step's body again without queuing
 * anything and checks each operation against this list: the recording may be replayed only when the body
 * would have queued exactly the same work.
 */
final class StepTrace {
    /** Operation kinds, in the high bits of an operation's first number. */
    static final long LAUNCH = 1L << 40,
            LIBRARY_CALL = 2L << 40,
            UPLOAD = 3L << 40,
            FILL = 4L << 40,
            COPY = 5L << 40,
            STAGE = 6L << 40;

    private long[] values = new long[4096];
    private int size;
    private boolean replaying;
    private int cursor;

    /** Whether this trace checks a replay rather than records a capture. */
    boolean replaying() {
        return replaying;
    }

    /** Recording: appends {@code value}. Replaying: the next recorded number must be {@code value}. */
    void put(long value) {
        if (!replaying) {
            append(value);
        } else if (cursor >= size || values[cursor] != value) {
            throw new StepCapture.Stale(
                    cursor >= size
                            ? "the step queued more work than its recording"
                            : "the step's work differs from its recording at number " + cursor + " of " + size);
        } else {
            cursor++;
        }
    }

    /** {@link #put} of a length and the numbers that follow it. */
    void putAll(long[] numbers) {
        put(numbers.length);
        for (long n : numbers) put(n);
    }

    /**
     * A number the recording chose (where a host array went in the step's arena): recording, appends and
     * returns {@code chosen}; replaying, returns the recorded number.
     */
    long recorded(long chosen) {
        if (!replaying) {
            append(chosen);
            return chosen;
        }
        if (cursor >= size) throw new StepCapture.Stale("the step queued more work than its recording");
        return values[cursor++];
    }

    /** Starts checking a replay from the first operation. */
    void rewind() {
        replaying = true;
        cursor = 0;
    }

    /** After a replay's body: it must have queued everything the recording holds. */
    void requireComplete() {
        if (cursor != size)
            throw new StepCapture.Stale(
                    "the step queued less work than its recording (" + cursor + " of " + size + " numbers)");
    }

    private void append(long value) {
        if (size == values.length) values = Arrays.copyOf(values, size * 2);
        values[size++] = value;
    }
}

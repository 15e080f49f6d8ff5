package plaid.backend.cuda;

import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Optional wall-clock time per device operation (a kernel by its symbol, "gemm", a memcpy), for
 * finding what limits a step. Off by default and then free: {@link #start} returns at once.
 * When on, the device is synchronised before and after each operation, so each one's time is
 * its own and queued work cannot overlap: the total is slower than an unprofiled run, and the
 * difference between the two is how much the host's launching hides behind device work.
 */
final class OpProfile {
    private final Runnable synchronizeDevice;
    private final Map<String, long[]> totals = new LinkedHashMap<>(); // op → {calls, nanoseconds}
    private volatile boolean enabled;

    OpProfile(Runnable synchronizeDevice) {
        this.synchronizeDevice = synchronizeDevice;
    }

    void enable(boolean on) {
        enabled = on;
    }

    boolean enabled() {
        return enabled;
    }

    /** A start mark for {@link #stop}: the time after earlier work finished, or 0 when off. */
    long start() {
        if (!enabled) return 0;
        synchronizeDevice.run();
        return System.nanoTime();
    }

    void stop(String op, long startMark) {
        if (!enabled || startMark == 0) return;
        synchronizeDevice.run();
        long elapsed = System.nanoTime() - startMark;
        synchronized (totals) {
            long[] total = totals.computeIfAbsent(op, k -> new long[2]);
            total[0]++;
            total[1] += elapsed;
        }
    }

    /** The entries so far, slowest first. */
    List<OpTiming> entries() {
        synchronized (totals) {
            return totals.entrySet().stream()
                    .map(e -> new OpTiming(e.getKey(), e.getValue()[0], e.getValue()[1] / 1e6))
                    .sorted(Comparator.comparingDouble(OpTiming::milliseconds).reversed())
                    .toList();
        }
    }

    void reset() {
        synchronized (totals) {
            totals.clear();
        }
    }
}

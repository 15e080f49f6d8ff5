package plaid.model.sampling;

/**
 * When a lane's model call, padded to more rows than its rows now need, shrinks: once its padded rows have
 * cost, step after step, what one rebuild of the call costs. This is the ski-rental rule: whatever the
 * arrivals, it never pays more than twice what the best choice in hindsight pays. The costs are measured,
 * so the rule fits the model: a 1B-shape row costs milliseconds a step on a device and an idle bucket there
 * is dropped within a few steps, while a small model's padded rows cost little beside a rebuild and its call
 * keeps its size through bursts of leaves and joins.
 */
final class CallSizing {
    /** Weight of the newest step in the running mean of a held row's cost. */
    private static final double NEWEST = 0.25;

    private final boolean measured;
    private long rebuildNanos;
    private double rowStepNanos;
    private boolean stepped;
    private double paddingCostNanos;

    private CallSizing(boolean measured, long rebuildNanos, double rowStepNanos) {
        this.measured = measured;
        this.rebuildNanos = rebuildNanos;
        this.rowStepNanos = rowStepNanos;
    }

    /** Costs measured from here on: the call's construction took {@code buildNanos}; its first step counts too. */
    static CallSizing measured(long buildNanos) {
        return new CallSizing(true, buildNanos, 0);
    }

    /** Fixed costs, for tests: a rebuild costs {@code rebuildNanos}, a held row {@code rowStepNanos} a step. */
    static CallSizing fixed(double rowStepNanos, long rebuildNanos) {
        return new CallSizing(false, rebuildNanos, rowStepNanos);
    }

    /** A step of the call, holding {@code heldRows} rows, took {@code nanos} from its queuing to its results. */
    void observeStep(int heldRows, long nanos) {
        if (!measured) return;
        double perRow = (double) nanos / heldRows;
        if (!stepped) {
            // a new call's first step pays for what the call sets up lazily: part of the rebuild's price
            rebuildNanos += nanos;
            rowStepNanos = perRow;
        } else {
            rowStepNanos += NEWEST * (perRow - rowStepNanos);
        }
        stepped = true;
    }

    /** Whether the call, holding {@code heldRows}, should be rebuilt smaller for a step that needs {@code neededRows}. */
    boolean shrinkNow(int heldRows, int neededRows) {
        if (neededRows >= heldRows) {
            paddingCostNanos = 0;
            return false;
        }
        paddingCostNanos += (heldRows - neededRows) * rowStepNanos;
        return paddingCostNanos >= rebuildNanos && (stepped || !measured);
    }
}

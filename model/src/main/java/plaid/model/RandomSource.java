package plaid.model;

import java.util.SplittableRandom;

/**
 * The one source every random draw of training comes from. Each draw is keyed by what it
 * is for, the optimiser step and the micro-step, so a run is reproducible from its seed
 * and a resumed run continues exactly the streams an uninterrupted one would have used.
 * Tests substitute draws by overriding {@link #stream}.
 */
public class RandomSource {
    private final long seed;

    public RandomSource(long seed) {
        this.seed = seed;
    }

    public long seed() {
        return seed;
    }

    /** A generator for one purpose at one (step, micro-step). */
    public SplittableRandom stream(String purpose, long step, int microStep) {
        long h = seed * 0x9E3779B97F4A7C15L;
        h = mix(h ^ purpose.hashCode());
        h = mix(h ^ step);
        h = mix(h ^ microStep);
        return new SplittableRandom(h);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}

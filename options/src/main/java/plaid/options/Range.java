package plaid.options;

import java.util.List;
import java.util.function.Function;

/**
 * The values an option may take. {@link #problem} says why a value is outside, without the
 * option's name (the caller names the option by its own spelling); {@link #toString} is the range
 * as the table documents it.
 */
public interface Range<T> {
    /** Null when {@code value} is in the range, else why it is not, e.g. {@code must be in [0, 1], got 2.0}. */
    String problem(T value);

    /** Integers in [min, max]. */
    static Range<Integer> ints(int min, int max) {
        return new Range<>() {
            @Override
            public String problem(Integer v) {
                if (v < min) return "must be at least " + min + ", got " + v;
                if (v > max) return "must be at most " + max + ", got " + v;
                return null;
            }

            @Override
            public String toString() {
                return max == Integer.MAX_VALUE ? ">= " + min : "[" + min + ", " + max + "]";
            }
        };
    }

    /** Integers of at least {@code min}. */
    static Range<Integer> atLeast(int min) {
        return ints(min, Integer.MAX_VALUE);
    }

    /** Every value of the type. */
    static <T> Range<T> any() {
        return new Range<>() {
            @Override
            public String problem(T value) {
                return null;
            }

            @Override
            public String toString() {
                return "any";
            }
        };
    }

    /** One of {@code values}. */
    static Range<String> oneOf(String... values) {
        List<String> allowed = List.of(values);
        return new Range<>() {
            @Override
            public String problem(String v) {
                return allowed.contains(v) ? null : "must be " + String.join(" or ", allowed) + ", got " + v;
            }

            @Override
            public String toString() {
                return String.join(" | ", allowed);
            }
        };
    }

    /** Whatever {@code check} accepts (it returns null) in a range documented as {@code description}. */
    static <T> Range<T> checkedBy(String description, Function<T, String> check) {
        return new Range<>() {
            @Override
            public String problem(T value) {
                return check.apply(value);
            }

            @Override
            public String toString() {
                return description;
            }
        };
    }

    /** Finite numbers in [min, max]. */
    static Range<Double> closed(double min, double max) {
        return new Reals(min, true, max, true);
    }

    /** Finite numbers in [min, max). */
    static Range<Double> closedOpen(double min, double max) {
        return new Reals(min, true, max, false);
    }

    /** Finite numbers in (min, max]. */
    static Range<Double> openClosed(double min, double max) {
        return new Reals(min, false, max, true);
    }

    /** Finite numbers of at least 0. */
    static Range<Double> nonNegative() {
        return closed(0, Double.POSITIVE_INFINITY);
    }

    /** Every finite number. */
    static Range<Double> finite() {
        return closed(Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY);
    }

    /**
     * Finite reals between two bounds (an infinite bound is none). NaN and ±Infinity are refused
     * by what they are, whatever the bounds: "must not be negative" would be wrong for NaN.
     */
    record Reals(double min, boolean minClosed, double max, boolean maxClosed) implements Range<Double> {
        @Override
        public String problem(Double v) {
            if (v.isNaN()) return "must be a number, got NaN";
            if (v.isInfinite())
                return "must be finite, got " + v
                        + (v > 0 ? " (a literal beyond ±1.8e308, such as 1e309, reads as infinite)" : "");
            boolean above = minClosed ? v >= min : v > min;
            boolean below = maxClosed ? v <= max : v < max;
            if (above && below) return null;
            if (max == Double.POSITIVE_INFINITY && min == 0)
                return (minClosed ? "must not be negative" : "must be positive") + ", got " + v;
            return "must be in " + this + ", got " + v;
        }

        @Override
        public String toString() {
            if (min == Double.NEGATIVE_INFINITY && max == Double.POSITIVE_INFINITY) return "finite";
            if (max == Double.POSITIVE_INFINITY) return (minClosed ? ">= " : "> ") + number(min) + ", finite";
            return (minClosed ? "[" : "(") + number(min) + ", " + number(max) + (maxClosed ? "]" : ")");
        }

        private static String number(double d) {
            return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
        }
    }
}

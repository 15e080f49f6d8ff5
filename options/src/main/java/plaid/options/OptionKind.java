package plaid.options;

import java.util.Locale;

/**
 * The type of an option's value: how a command line's or config.json's text becomes it, and the
 * Java type a plaid.v1 field of the option holds (int32 → Integer, double → Double, …).
 */
public final class OptionKind<T> {
    public static final OptionKind<Integer> INT = new OptionKind<>(Integer.class, "int");
    public static final OptionKind<Long> LONG = new OptionKind<>(Long.class, "long");
    public static final OptionKind<Double> DOUBLE = new OptionKind<>(Double.class, "float");
    public static final OptionKind<Boolean> BOOL = new OptionKind<>(Boolean.class, "bool");
    public static final OptionKind<String> TEXT = new OptionKind<>(String.class, "str");

    private final Class<T> type;
    private final String pythonName;

    private OptionKind(Class<T> type, String pythonName) {
        this.type = type;
        this.pythonName = pythonName;
    }

    public Class<T> type() {
        return type;
    }

    /** The type as train.py's argparse names it. */
    @Override
    public String toString() {
        return pythonName;
    }

    /** {@code value} as this kind's type; a value of another type is a programming error. */
    public T cast(Object value) {
        return type.cast(value);
    }

    /**
     * The value of a text, as argparse would read it; booleans as True/False (or 1/0, yes/no).
     *
     * @throws IllegalArgumentException saying what the text is not (without the option's name)
     */
    public T parse(String text) {
        String t = text.trim();
        try {
            Object value;
            if (type == Integer.class)
                value = integral(t, Integer.MIN_VALUE, Integer.MAX_VALUE).intValue();
            else if (type == Long.class) value = integral(t, Long.MIN_VALUE, Long.MAX_VALUE);
            else if (type == Double.class) value = Double.parseDouble(t);
            else if (type == Boolean.class) value = bool(t);
            else value = text;
            return type.cast(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "'" + text + "' is " + (type == Boolean.class ? "not True or False" : "not a valid " + pythonName));
        }
    }

    private static Long integral(String t, long min, long max) {
        long v = Long.parseLong(t);
        if (v < min || v > max) throw new NumberFormatException(t);
        return v;
    }

    private static boolean bool(String t) {
        return switch (t.toLowerCase(Locale.ROOT)) {
            case "true", "1", "yes" -> true;
            case "false", "0", "no" -> false;
            default -> throw new NumberFormatException(t);
        };
    }
}

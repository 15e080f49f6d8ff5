package plaid.options;

import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * One row of {@link OptionTable}: an option of the original train.py or sample.py, with its
 * spelling there (also its config.json key and its command-line flag), the plaid.v1 field that
 * carries it, its type, default, range and doc, and the {@link PlaidConfig} field that holds it
 * (an option without one, {@code getter} and {@code setter} null, is held by PlaidConfig itself and
 * read with {@link PlaidConfig#get}).
 *
 * @param name train.py's / sample.py's spelling, e.g. {@code BoW_cumsum_gamma}
 * @param group the typed part of a run it belongs to; for shape, optimization and reporting the message of {@code field}
 * @param field the field of the group's plaid.v1 message, or null when no message carries the option
 * @param kind the value's type
 * @param optional whether the option may be unset (Python's None): then null passes its range
 * @param defaultValue train.py's default (null: None)
 * @param range the values it may take
 * @param doc what it does, briefly
 */
public record Option<T>(
        String name,
        OptionGroup group,
        String field,
        OptionKind<T> kind,
        boolean optional,
        T defaultValue,
        Range<T> range,
        String doc,
        Function<PlaidConfig, T> getter,
        BiConsumer<PlaidConfig, T> setter) {

    public T get(PlaidConfig config) {
        return getter != null ? getter.apply(config) : kind.cast(config.held(this));
    }

    /** Sets the value as it is: ranges are checked by {@link PlaidConfig#validate}, where options meet. */
    public void set(PlaidConfig config, T value) {
        if (value == null && !optional) throw new OptionRefusal(name, "cannot be None");
        put(config, value);
    }

    /** Sets a value of the option's type given untyped (a protobuf field's value). */
    public void setUntyped(PlaidConfig config, Object value) {
        set(config, kind.cast(value));
    }

    /** Sets the option from text (a flag's or config.json's); {@code None} unsets an optional one. */
    public void parseInto(PlaidConfig config, String text) {
        set(config, parse(text));
    }

    /** The value of a text, or a refusal naming the option. */
    public T parse(String text) {
        if (text == null || optional && "None".equals(text.trim())) {
            if (optional) return null;
            throw new OptionRefusal(name, "needs a value");
        }
        try {
            return kind.parse(text);
        } catch (IllegalArgumentException e) {
            throw new OptionRefusal(name, e.getMessage(), e);
        }
    }

    /** Null when the value can be used, else why not (a None where one is required, or out of range). */
    public String problem(T value) {
        if (value == null) return optional ? null : "must be set";
        return range.problem(value);
    }

    /** The option's value in {@code config}, checked against its range. */
    void check(PlaidConfig config) {
        String problem = problem(get(config));
        if (problem != null) throw new OptionRefusal(name, problem);
    }

    void reset(PlaidConfig config) {
        put(config, defaultValue);
    }

    void copy(PlaidConfig from, PlaidConfig to) {
        put(to, get(from));
    }

    private void put(PlaidConfig config, T value) {
        if (setter != null) setter.accept(config, value);
        else config.hold(this, value);
    }

    @Override
    public String toString() {
        return name;
    }
}

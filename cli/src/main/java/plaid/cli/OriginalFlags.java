package plaid.cli;

import com.google.protobuf.Message;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.stream.Collectors;
import plaid.options.Option;
import plaid.options.OptionGroup;
import plaid.options.OptionRefusal;
import plaid.options.OptionTable;
import plaid.options.PlaidConfig;
import plaid.options.SpecOptions;
import plaid.v1.TrainingSpec;

/**
 * The original's flags as train.py and sample.py take them ({@code --name=value} or
 * {@code --name value}, booleans as True/False), read once for {@code plaid train submit} and
 * {@code plaid sample}: the command takes the flags that are its own ({@link #take}), the rest
 * become fields of the option messages ({@link #setInto}), both as {@link OptionTable} spells and
 * types them. A value in square brackets is the seed document's placeholder (e.g.
 * {@code --diffusion_mode=[token|BoW|see options in train.py]}) and is refused by the flag's name.
 */
final class OriginalFlags {
    private final Map<String, String> values = new LinkedHashMap<>();

    private OriginalFlags() {}

    static OriginalFlags parse(List<String> args) {
        OriginalFlags flags = new OriginalFlags();
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            if (!arg.startsWith("--")) throw new IllegalArgumentException("unexpected argument '" + arg + "'");
            String nameValue = arg.substring(2);
            String name, value;
            if (nameValue.contains("=")) {
                name = nameValue.substring(0, nameValue.indexOf('='));
                value = nameValue.substring(nameValue.indexOf('=') + 1);
            } else if (i + 1 < args.size()) {
                name = nameValue;
                value = args.get(++i);
            } else {
                throw new IllegalArgumentException("option --" + nameValue + " needs a value");
            }
            if (value.startsWith("["))
                throw new IllegalArgumentException("option --" + name + ": '" + value
                        + "' is a placeholder of the seed document, not a value: put one in");
            // As argparse: the last of a repeated flag wins.
            flags.values.put(name, value);
        }
        return flags;
    }

    /** Removes the flag and returns its text, if given. */
    Optional<String> take(String name) {
        return Optional.ofNullable(values.remove(name));
    }

    /** Removes the option's flag and returns its value, typed as the table says, if given. */
    <T> Optional<T> take(Option<T> option) {
        return take(option.name()).map(text -> flagged(() -> option.parse(text)));
    }

    /** Sets every remaining flag as the field of one of {@code sections} that carries it; an unknown one is refused. */
    void setInto(List<? extends Message.Builder> sections) {
        values.forEach((name, value) -> {
            if (OptionTable.byName(name).isEmpty() && sections.stream().noneMatch(s -> carries(s, name)))
                throw new IllegalArgumentException("unknown option --" + name);
            flagged(() -> {
                SpecOptions.setFlag(sections, name, value);
                return null;
            });
        });
    }

    private static boolean carries(Message.Builder section, String field) {
        return section.getDescriptorForType().findFieldByName(field) != null;
    }

    /** Runs {@code parse}, a refusal of the option becoming one of its flag. */
    private static <T> T flagged(java.util.function.Supplier<T> parse) {
        try {
            return parse.get();
        } catch (OptionRefusal refusal) {
            throw new IllegalArgumentException("option --" + refusal.option() + ": " + refusal.problem(), refusal);
        }
    }

    /**
     * The flags of {@code groups}' options and of {@code alsoTaken}, one line each as the option
     * table gives them (type, default, range, doc): a command's help.
     */
    static String help(String title, List<OptionGroup> groups, List<Option<?>> alsoTaken) {
        List<Option<?>> options = new java.util.ArrayList<>(alsoTaken);
        OptionTable.ALL.stream().filter(o -> groups.contains(o.group())).forEach(options::add);
        StringBuilder out = new StringBuilder("%n" + title + " (--name=value or --name value):%n");
        for (Option<?> o : options) {
            Object value = o.defaultValue();
            String shown =
                    value == null ? "None" : value instanceof Boolean b ? (b ? "True" : "False") : value.toString();
            String range = o.range().toString().equals("any") ? "" : ", in " + o.range();
            out.append("  --")
                    .append(o.name())
                    .append("=")
                    .append(o.kind())
                    .append(" (default ")
                    .append(shown)
                    .append(range)
                    .append(")%n")
                    .append("      ")
                    .append(o.doc().replace("%", "%%"))
                    .append("%n");
        }
        return out.toString();
    }

    /** The spec's options as the trainer will read them, or the refusal naming the flag. */
    static PlaidConfig check(TrainingSpec spec) {
        try {
            return SpecOptions.config(spec);
        } catch (SpecOptions.Refusal refusal) {
            throw new IllegalArgumentException("option --" + refusal.option() + ": " + refusal.problem(), refusal);
        }
    }

    /** The options that {@code options}' set fields give, as {@code name=value} words with the values {@code config} holds. */
    static String given(Message options, PlaidConfig config) {
        Map<String, Object> values = config.asMap();
        return options.getAllFields().keySet().stream()
                .map(SpecOptions::option)
                .map(option -> option + "=" + values.get(option))
                .collect(Collectors.joining(" "));
    }

    /** The options that differ from train.py's defaults, as {@code name=value} words: what a --validate-only line shows. */
    static String differingFromDefaults(PlaidConfig config) {
        Map<String, Object> defaults = PlaidConfig.defaults().asMap();
        return config.asMap().entrySet().stream()
                .filter(e -> !Objects.equals(e.getValue(), defaults.get(e.getKey())))
                .map(e -> e.getKey() + "=" + e.getValue())
                .collect(Collectors.joining(" "));
    }
}

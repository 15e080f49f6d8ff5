package plaid.cli;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import plaid.model.PlaidConfig;
import plaid.spec.SpecOptions;
import plaid.v1.TrainingSpec;

/**
 * The original's flags as train.py and sample.py take them ({@code --name=value} or
 * {@code --name value}, booleans as True/False), read once for {@code plaid train submit} and
 * {@code plaid sample}: the command takes the flags that are its own ({@link #take}), the rest
 * become fields of the option messages ({@link #setInto}). A value in square brackets is the
 * seed document's placeholder (e.g. {@code --diffusion_mode=[token|BoW|see options in train.py]})
 * and is refused by the flag's name.
 */
final class OriginalFlags {
    /** train.py's names that are not the field's. */
    private static final Map<String, String> FIELD_OF_FLAG = Map.of("beta1", "beta_1", "beta2", "beta_2");

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
                throw new IllegalArgumentException("option --" + name + ": '" + value + "' is a placeholder of the seed document, not a value: put one in");
            // As argparse: the last of a repeated flag wins.
            flags.values.put(name, value);
        }
        return flags;
    }

    /** Removes the flag and returns its value, if given. */
    Optional<String> take(String name) {
        return Optional.ofNullable(values.remove(name));
    }

    /** Removes a True/False flag and returns its value, false when not given. */
    boolean takeBoolean(String name) {
        return take(name).map(v -> parseBoolean(name, v)).orElse(false);
    }

    /** Removes an integer flag and returns its value, if given. */
    Optional<Integer> takeInt(String name) {
        return take(name).map(v -> {
            try {
                return Integer.parseInt(v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("option --" + name + ": '" + v + "' is not a valid int");
            }
        });
    }

    /** Sets every remaining flag as the field of one of {@code sections} that it names; an unknown one is refused. */
    void setInto(List<? extends Message.Builder> sections) {
        values.forEach((name, value) -> setOption(sections, name, value));
    }

    private static void setOption(List<? extends Message.Builder> sections, String name, String value) {
        String fieldName = FIELD_OF_FLAG.getOrDefault(name, name);
        for (Message.Builder section : sections) {
            FieldDescriptor f = section.getDescriptorForType().getFields().stream()
                    .filter(field -> field.getName().equals(fieldName) || SpecOptions.option(field).equals(name)).findFirst().orElse(null);
            if (f == null) continue;
            try {
                section.setField(f, switch (f.getJavaType()) {
                    case INT -> Integer.parseInt(value);
                    case LONG -> Long.parseLong(value);
                    case DOUBLE -> Double.parseDouble(value);
                    case BOOLEAN -> parseBoolean(name, value);
                    case STRING -> value;
                    default -> throw new IllegalArgumentException("option --" + name + " cannot be set from the command line");
                });
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("option --" + name + ": '" + value + "' is not a valid " + f.getJavaType().name().toLowerCase(Locale.ROOT));
            }
            return;
        }
        throw new IllegalArgumentException("unknown option --" + name);
    }

    private static boolean parseBoolean(String name, String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "true", "1" -> true;
            case "false", "0" -> false;
            default -> throw new IllegalArgumentException("option --" + name + ": '" + value + "' is not True or False");
        };
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
        return options.getAllFields().keySet().stream().map(SpecOptions::option).map(option -> option + "=" + values.get(option))
                .collect(Collectors.joining(" "));
    }

    /** The options that differ from train.py's defaults, as {@code name=value} words: what a --validate-only line shows. */
    static String differingFromDefaults(PlaidConfig config) {
        Map<String, Object> defaults = PlaidConfig.defaults().asMap();
        return config.asMap().entrySet().stream().filter(e -> !java.util.Objects.equals(e.getValue(), defaults.get(e.getKey())))
                .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(" "));
    }
}

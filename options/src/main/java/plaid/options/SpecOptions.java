package plaid.options;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import plaid.v1.ModelShape;
import plaid.v1.Optimization;
import plaid.v1.Reporting;
import plaid.v1.TrainingSpec;

/**
 * The option messages of plaid.v1 ({@code ModelShape}, {@code Optimization}, {@code Reporting})
 * as {@link PlaidConfig}, field by field as {@link OptionTable} pairs them, with values passed as
 * they are typed (no text in between). Refusals name both the option (for a command line) and the
 * field (for a gRPC reply).
 */
public final class SpecOptions {
    private static final Map<OptionGroup, Descriptor> MESSAGE_OF_GROUP = Map.of(
            OptionGroup.SHAPE,
            ModelShape.getDescriptor(),
            OptionGroup.OPTIMIZATION,
            Optimization.getDescriptor(),
            OptionGroup.REPORTING,
            Reporting.getDescriptor());

    private SpecOptions() {}

    /** An option that cannot work: the train.py option, the request field that set it, and why. */
    public static final class Refusal extends IllegalArgumentException {
        private final String option;
        private final String field;
        private final String problem;

        Refusal(String option, String field, String problem, Throwable cause) {
            super(field + " " + problem, cause);
            this.option = option;
            this.field = field;
            this.problem = problem;
        }

        /** The option as train.py spells it, e.g. {@code BoW_cumsum_gamma}. */
        public String option() {
            return option;
        }

        /** The request field, e.g. {@code spec.shape.bow_cumsum_gamma}. */
        public String field() {
            return field;
        }

        public String problem() {
            return problem;
        }
    }

    /** The message of plaid.v1 that carries {@code group}'s options, if one does. */
    public static Optional<Descriptor> message(OptionGroup group) {
        return Optional.ofNullable(MESSAGE_OF_GROUP.get(group));
    }

    /** The table's row of a field of an option message; empty for the service's own fields (checkpoint_freq, keep_checkpoints). */
    public static Optional<Option<?>> optionOf(FieldDescriptor field) {
        return MESSAGE_OF_GROUP.entrySet().stream()
                .filter(e -> e.getValue().equals(field.getContainingType()))
                .findFirst()
                .flatMap(e -> OptionTable.byField(e.getKey(), field.getName()));
    }

    /**
     * Whether {@code name} names this field of an option message: as the field or as its train.py
     * option (the service's own fields, checkpoint_freq and keep_checkpoints, only as the field).
     */
    public static boolean names(FieldDescriptor field, String name) {
        return field.getName().equals(name)
                || optionOf(field).map(o -> o.name().equals(name)).orElse(false);
    }

    /** The option (train.py's name) a field of an option message sets. */
    public static String option(FieldDescriptor field) {
        return optionOf(field)
                .map(Option::name)
                .orElseThrow(() -> new IllegalArgumentException(field.getFullName() + " is no train.py option"));
    }

    /** The field of its group's message that carries {@code option}, if one does. */
    public static Optional<FieldDescriptor> field(Option<?> option) {
        return message(option.group()).map(m -> option.field() == null ? null : m.findFieldByName(option.field()));
    }

    /** Sets the field's option in {@code config} when {@code options} has the field set. */
    public static void apply(Message options, FieldDescriptor field, PlaidConfig config) {
        if (options.hasField(field)) optionOf(field).ifPresent(o -> o.setUntyped(config, options.getField(field)));
    }

    /**
     * The spec's train.py options (its seed and every set field of its option messages,
     * checkpoint cadence and retention left out), validated; a {@link Refusal} names the
     * spec field, e.g. {@code spec.shape.n_heads}.
     */
    public static PlaidConfig config(TrainingSpec spec) {
        PlaidConfig config = PlaidConfig.defaults();
        config.set(OptionTable.SEED, spec.getSeed());
        Map<String, String> fieldOfOption = new HashMap<>();
        for (Option<?> option : OptionTable.ALL) {
            Optional<FieldDescriptor> field = field(option);
            if (field.isEmpty()) continue;
            FieldDescriptor part =
                    TrainingSpec.getDescriptor().findFieldByName(option.group().specField());
            // Unset fields too: a default can be what clashes with a set one (n_heads with dim).
            fieldOfOption.put(
                    option.name(), "spec." + part.getName() + "." + field.get().getName());
            apply((Message) spec.getField(part), field.get(), config);
        }
        return validate(config, fieldOfOption, null);
    }

    /**
     * {@link PlaidConfig#validate} with the refusal as a {@link Refusal}: its field is the one
     * {@code fieldOfOption} gives for the option, else {@code otherwise} (then the problem keeps
     * the option's name), else the option itself.
     */
    public static PlaidConfig validate(PlaidConfig config, Map<String, String> fieldOfOption, String otherwise) {
        try {
            return config.validate();
        } catch (OptionRefusal e) {
            String option = e.option();
            if (fieldOfOption.containsKey(option)) throw new Refusal(option, fieldOfOption.get(option), e.problem(), e);
            if (otherwise != null) throw new Refusal(option, otherwise, e.getMessage(), e);
            throw new Refusal(option, option, e.problem(), e);
        }
    }

    /**
     * Sets a flag of the command line ({@code --name=text}: train.py's spelling or the field's) as
     * the field of whichever of {@code messages} carries it, parsed once by the option's type.
     *
     * @throws OptionRefusal when no message given carries the option, or the text is not of its type
     */
    public static void setFlag(List<? extends Message.Builder> messages, String name, String text) {
        for (Message.Builder message : messages) {
            Descriptor type = message.getDescriptorForType();
            Optional<OptionGroup> group = MESSAGE_OF_GROUP.entrySet().stream()
                    .filter(e -> e.getValue().equals(type))
                    .map(Map.Entry::getKey)
                    .findFirst();
            if (group.isEmpty()) continue;
            Optional<Option<?>> option = OptionTable.byName(name)
                    .filter(o -> o.group() == group.get())
                    .or(() -> OptionTable.byField(group.get(), name));
            if (option.isEmpty()) {
                // the service's own fields (checkpoint_freq, keep_checkpoints): no row, their type is the field's
                FieldDescriptor own = type.findFieldByName(name);
                if (own == null || own.isRepeated()) continue;
                message.setField(own, ownFieldValue(own, name, text));
                return;
            }
            Object value = option.get().parse(text);
            FieldDescriptor field = type.findFieldByName(option.get().field());
            if (value == null) message.clearField(field);
            else message.setField(field, value);
            return;
        }
        throw new OptionRefusal(name, "is not one this command takes");
    }

    /** A service-own field's value, parsed as the table's options of that type are. */
    private static Object ownFieldValue(FieldDescriptor field, String name, String text) {
        OptionKind<?> kind = switch (field.getJavaType()) {
            case INT -> OptionKind.INT;
            case LONG -> OptionKind.LONG;
            case DOUBLE -> OptionKind.DOUBLE;
            case BOOLEAN -> OptionKind.BOOL;
            case STRING -> OptionKind.TEXT;
            default -> throw new OptionRefusal(name, "is not one this command takes");
        };
        try {
            return kind.parse(text);
        } catch (IllegalArgumentException e) {
            throw new OptionRefusal(name, e.getMessage(), e);
        }
    }
}

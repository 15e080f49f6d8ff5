package plaid.spec;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import plaid.model.PlaidConfig;
import plaid.v1.Reporting;
import plaid.v1.TrainingSpec;

/**
 * The option messages of plaid.v1 as {@link PlaidConfig}: every field of {@code ModelShape},
 * {@code Optimization} and {@code Reporting} is the train.py option of the same name (the few
 * spelt otherwise are in {@link #option}), so a new option needs only its proto field. Refusals
 * name both the option (for a command line) and the field (for a gRPC reply).
 */
public final class SpecOptions {
    /** Fields named otherwise than their PlaidConfig option. */
    private static final Map<String, String> OPTION_OF_FIELD = Map.of("self_conditioning", "selfcond", "bow_cumsum_gamma", "BoW_cumsum_gamma");
    /** Reporting fields that are the trainer service's, not train.py's. */
    private static final Set<Integer> SERVICE_REPORTING_FIELDS = Set.of(Reporting.CHECKPOINT_FREQ_FIELD_NUMBER, Reporting.KEEP_CHECKPOINTS_FIELD_NUMBER);
    /** PlaidConfig's refusals read "option <name> <why>" or "option <name>: <why>". */
    private static final Pattern OPTION_REFUSAL = Pattern.compile("option (\\S+?):? (.*)", Pattern.DOTALL);

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

    /** The PlaidConfig option (train.py's name) a field of an option message sets. */
    public static String option(FieldDescriptor field) {
        return OPTION_OF_FIELD.getOrDefault(field.getName(), field.getName());
    }

    /** Sets the field's option in {@code config} when {@code options} has the field set. */
    public static void apply(Message options, FieldDescriptor field, PlaidConfig config) {
        if (options.hasField(field)) config.set(option(field), options.getField(field).toString());
    }

    /**
     * The spec's train.py options (its seed and every set field of its option messages,
     * checkpoint cadence and retention left out), validated; a {@link Refusal} names the
     * spec field, e.g. {@code spec.shape.n_heads}.
     */
    public static PlaidConfig config(TrainingSpec spec) {
        PlaidConfig config = PlaidConfig.defaults();
        config.seed = spec.getSeed();
        Map<String, String> fieldOfOption = new HashMap<>();
        for (FieldDescriptor part : TrainingSpec.getDescriptor().getFields()) {
            if (part.getType() != FieldDescriptor.Type.MESSAGE || part.isRepeated()) continue;
            Message options = (Message) spec.getField(part);
            for (FieldDescriptor field : options.getDescriptorForType().getFields()) {
                if (part.getNumber() == TrainingSpec.REPORTING_FIELD_NUMBER && SERVICE_REPORTING_FIELDS.contains(field.getNumber())) continue;
                // Unset fields too: a default can be what clashes with a set one (n_heads with dim).
                fieldOfOption.put(option(field), "spec." + part.getName() + "." + field.getName());
                apply(options, field, config);
            }
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
        } catch (IllegalArgumentException e) {
            Matcher m = OPTION_REFUSAL.matcher(e.getMessage());
            String option = m.matches() ? m.group(1) : null;
            String why = m.matches() ? m.group(2) : e.getMessage();
            if (fieldOfOption.containsKey(option)) throw new Refusal(option, fieldOfOption.get(option), why, e);
            if (otherwise != null) throw new Refusal(option, otherwise, e.getMessage(), e);
            throw new Refusal(option, option, why, e);
        }
    }
}

package plaid.trainer;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import plaid.options.SpecOptions;
import plaid.service.InvalidArgument;
import plaid.v1.SubmitSweepRequest;
import plaid.v1.SweepParameter;
import plaid.v1.SweepRange;
import plaid.v1.SweepTrial;
import plaid.v1.TrainingSpec;
import plaid.v1.TrialState;

/**
 * A sweep's search space: its parameters checked against the options a {@link TrainingSpec}
 * has, expanded into trials (every grid combination, or seeded random draws), and a trial's
 * values set on the base spec. Each refusal is INVALID_ARGUMENT naming the request field.
 */
final class SweepSpace {
    /** More trials than this is a mistake in the space, not a search anyone waits for. */
    static final int MAX_TRIALS = 1000;
    /** Values drawn from a range keep this many significant digits, so a trial's command line reproduces it exactly. */
    private static final int DRAWN_DIGITS = 3;

    private static final List<FieldDescriptor> SECTIONS = List.of(
            TrainingSpec.getDescriptor().findFieldByName("shape"),
            TrainingSpec.getDescriptor().findFieldByName("optimization"),
            TrainingSpec.getDescriptor().findFieldByName("reporting"));

    private SweepSpace() {}

    /** Where an option lives in a spec: the option message (a field of TrainingSpec) and its field. */
    private record Option(FieldDescriptor section, FieldDescriptor field) {}

    /** The request's trials, all pending, after checking every field of the space. */
    static List<SweepTrial> trials(SubmitSweepRequest request) {
        InvalidArgument.require(request.hasBase(), "base", "must be set: the spec every trial trains with");
        InvalidArgument.require(
                request.getParametersCount() > 0, "parameters", "must name at least one option to search over");
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < request.getParametersCount(); i++) {
            SweepParameter parameter = request.getParameters(i);
            String at = "parameters[" + i + "]";
            Option option = option(parameter.getName(), at + ".name");
            InvalidArgument.require(
                    seen.add(option.field().getFullName()),
                    at + ".name",
                    "repeats option '" + parameter.getName() + "'");
            switch (parameter.getValuesCase()) {
                case GRID -> {
                    InvalidArgument.require(
                            parameter.getGrid().getValuesCount() > 0,
                            at + ".grid.values",
                            "is empty: give at least one value");
                    for (int j = 0; j < parameter.getGrid().getValuesCount(); j++)
                        value(
                                option,
                                parameter.getName(),
                                parameter.getGrid().getValues(j),
                                at + ".grid.values[" + j + "]");
                }
                case RANGE -> checkRange(option, parameter, at + ".range");
                default -> throw InvalidArgument.of(at, "must give grid values or a range");
            }
        }
        InvalidArgument.require(
                request.getMaxConcurrent() >= 0 && request.getMaxConcurrent() <= 64,
                "max_concurrent",
                "must be in [0, 64], got " + request.getMaxConcurrent());
        InvalidArgument.require(
                request.getEarlyStopping().getMinCompletedTrials() >= 0,
                "early_stopping.min_completed_trials",
                "must not be negative");
        return switch (request.getStrategy()) {
            case SWEEP_STRATEGY_GRID -> grid(request);
            case SWEEP_STRATEGY_RANDOM -> random(request);
            default -> throw InvalidArgument.of("strategy", "must be SWEEP_STRATEGY_GRID or SWEEP_STRATEGY_RANDOM");
        };
    }

    /** The base spec with the trial's values set; a base model_save_path gets a folder per trial. */
    static TrainingSpec spec(TrainingSpec base, SweepTrial trial) {
        TrainingSpec.Builder spec = base.toBuilder();
        trial.getParametersMap().forEach((name, text) -> {
            Option option = option(name, "parameters");
            ((Message.Builder) spec.getFieldBuilder(option.section()))
                    .setField(option.field(), value(option, name, text, "parameters"));
        });
        if (base.getReporting().hasModelSavePath())
            spec.getReportingBuilder()
                    .setModelSavePath(base.getReporting().getModelSavePath() + "/trial-" + trial.getIndex());
        return spec.build();
    }

    private static List<SweepTrial> grid(SubmitSweepRequest request) {
        InvalidArgument.require(request.getTrials() >= 0, "trials", "must not be negative, got " + request.getTrials());
        long combinations = 1;
        for (int i = 0; i < request.getParametersCount(); i++) {
            SweepParameter parameter = request.getParameters(i);
            InvalidArgument.require(
                    parameter.hasGrid(),
                    "parameters[" + i + "].range",
                    "is not allowed in a GRID sweep: give grid values or use RANDOM");
            combinations = Math.min(combinations * parameter.getGrid().getValuesCount(), MAX_TRIALS + 1L);
        }
        int count = request.getTrials() > 0 ? (int) Math.min(request.getTrials(), combinations) : (int) combinations;
        InvalidArgument.require(
                count <= MAX_TRIALS,
                "parameters",
                "make more than " + MAX_TRIALS + " combinations: set trials or shrink the grid");
        List<SweepTrial> trials = new ArrayList<>();
        for (int t = 0; t < count; t++) {
            Map<String, String> values = new LinkedHashMap<>();
            int rest = t;
            // The last dimension varies fastest.
            int[] pick = new int[request.getParametersCount()];
            for (int i = request.getParametersCount() - 1; i >= 0; i--) {
                int n = request.getParameters(i).getGrid().getValuesCount();
                pick[i] = rest % n;
                rest /= n;
            }
            for (int i = 0; i < pick.length; i++)
                values.put(
                        request.getParameters(i).getName(),
                        request.getParameters(i).getGrid().getValues(pick[i]));
            trials.add(pending(t, values));
        }
        return trials;
    }

    private static List<SweepTrial> random(SubmitSweepRequest request) {
        InvalidArgument.require(
                request.getTrials() >= 1 && request.getTrials() <= MAX_TRIALS,
                "trials",
                "must be in [1, " + MAX_TRIALS + "] for a RANDOM sweep, got " + request.getTrials());
        SplittableRandom random = new SplittableRandom(request.getSeed());
        List<SweepTrial> trials = new ArrayList<>();
        for (int t = 0; t < request.getTrials(); t++) {
            Map<String, String> values = new LinkedHashMap<>();
            for (SweepParameter parameter : request.getParametersList()) {
                values.put(
                        parameter.getName(),
                        parameter.hasGrid()
                                ? parameter
                                        .getGrid()
                                        .getValues(random.nextInt(
                                                parameter.getGrid().getValuesCount()))
                                : draw(option(parameter.getName(), "parameters"), parameter.getRange(), random));
            }
            trials.add(pending(t, values));
        }
        return trials;
    }

    private static String draw(Option option, SweepRange range, SplittableRandom random) {
        double u = random.nextDouble();
        double x = range.getLog()
                ? Math.exp(Math.log(range.getMin()) + u * (Math.log(range.getMax()) - Math.log(range.getMin())))
                : range.getMin() + u * (range.getMax() - range.getMin());
        if (option.field().getJavaType() == FieldDescriptor.JavaType.INT)
            return Long.toString(
                    Math.clamp(Math.round(x), (long) Math.ceil(range.getMin()), (long) Math.floor(range.getMax())));
        return new java.math.BigDecimal(x)
                .round(new java.math.MathContext(DRAWN_DIGITS))
                .stripTrailingZeros()
                .toString()
                .toLowerCase(Locale.ROOT);
    }

    private static SweepTrial pending(int index, Map<String, String> values) {
        return SweepTrial.newBuilder()
                .setIndex(index)
                .putAllParameters(values)
                .setState(TrialState.TRIAL_STATE_PENDING)
                .build();
    }

    private static void checkRange(Option option, SweepParameter parameter, String at) {
        FieldDescriptor.JavaType type = option.field().getJavaType();
        InvalidArgument.require(
                type == FieldDescriptor.JavaType.INT || type == FieldDescriptor.JavaType.DOUBLE,
                at,
                "is not allowed for option '" + parameter.getName() + "' ("
                        + type.name().toLowerCase(Locale.ROOT) + "): give grid values");
        SweepRange range = parameter.getRange();
        InvalidArgument.require(
                Double.isFinite(range.getMin()) && Double.isFinite(range.getMax()),
                at,
                "bounds must be finite numbers");
        InvalidArgument.require(
                range.getMin() < range.getMax(),
                at,
                "is empty: min " + range.getMin() + " must be below max " + range.getMax());
        InvalidArgument.require(
                !range.getLog() || range.getMin() > 0,
                at + ".min",
                "must be positive for a log range, got " + range.getMin());
        if (type == FieldDescriptor.JavaType.INT)
            InvalidArgument.require(
                    Math.ceil(range.getMin()) <= Math.floor(range.getMax()),
                    at,
                    "holds no integer for option '" + parameter.getName() + "'");
    }

    /** The option a parameter names: a field of shape, optimization or reporting by its name or train.py's. */
    private static Option option(String name, String at) {
        InvalidArgument.require(!name.isEmpty(), at, "must name a train.py option");
        for (FieldDescriptor section : SECTIONS) {
            for (FieldDescriptor field : section.getMessageType().getFields()) {
                if (SpecOptions.names(field, name)) return new Option(section, field);
            }
        }
        throw InvalidArgument.of(
                at, "is an unknown option '" + name + "': not a field of the spec's shape, optimization or reporting");
    }

    /** A command-line value as the field's type. */
    private static Object value(Option option, String name, String text, String at) {
        try {
            return switch (option.field().getJavaType()) {
                case INT -> Integer.parseInt(text.trim());
                case LONG -> Long.parseLong(text.trim());
                case DOUBLE -> {
                    double d = Double.parseDouble(text.trim());
                    if (!Double.isFinite(d)) throw new NumberFormatException();
                    yield d;
                }
                case BOOLEAN ->
                    switch (text.trim().toLowerCase(Locale.ROOT)) {
                        case "true", "1" -> true;
                        case "false", "0" -> false;
                        default -> throw new NumberFormatException();
                    };
                case STRING -> text;
                default -> throw InvalidArgument.of(at, "option '" + name + "' cannot be swept");
            };
        } catch (NumberFormatException e) {
            throw InvalidArgument.of(
                    at,
                    "'" + text + "' is not a valid "
                            + option.field().getJavaType().name().toLowerCase(Locale.ROOT) + " for option '" + name
                            + "'");
        }
    }
}

package plaid.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import plaid.v1.SweepParameter;
import plaid.v1.SweepRange;
import plaid.v1.SweepValues;

/**
 * A sweep's search space from the command line and an optional YAML or JSON file. A train.py
 * flag whose value is {@code grid:a,b,c}, {@code log:min:max} or {@code uniform:min:max} is a
 * dimension; every other flag is a fixed option of all trials, handed to {@code plaid train}'s
 * parsing. The file may hold {@code strategy}, {@code trials}, {@code max_concurrent} and
 * {@code parameters} (option: a value as on the command line, or a list of grid values);
 * the command line wins over it.
 *
 * @param parameters the dimensions, file ones first, in the order given
 * @param fixedFlags the other flags, as given
 * @param settings strategy, trials and max_concurrent from the file, as text
 */
record SweepSpaceArgs(List<SweepParameter> parameters, List<String> fixedFlags, Map<String, String> settings) {
    private static final List<String> SETTINGS = List.of("strategy", "trials", "max_concurrent");

    static SweepSpaceArgs parse(List<String> args, Path spaceFile) {
        Map<String, SweepParameter> parameters = new LinkedHashMap<>();
        Map<String, String> settings = new LinkedHashMap<>();
        if (spaceFile != null) readFile(spaceFile, parameters, settings);
        List<String> fixed = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            String name, value;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                name = arg.substring(2, eq);
                value = arg.substring(eq + 1);
            } else if (arg.startsWith("--") && i + 1 < args.size()) {
                name = arg.substring(2);
                value = args.get(i + 1);
                if (!isDimension(value)) {
                    fixed.add(arg);
                    continue;
                }
                i++;
            } else {
                fixed.add(arg);
                continue;
            }
            if (isDimension(value)) parameters.put(name, dimension(name, value));
            else fixed.add(arg);
        }
        return new SweepSpaceArgs(List.copyOf(parameters.values()), fixed, settings);
    }

    static boolean isDimension(String value) {
        return value.startsWith("grid:") || value.startsWith("log:") || value.startsWith("uniform:");
    }

    /** One dimension from {@code grid:a,b}, {@code log:min:max} or {@code uniform:min:max}. */
    static SweepParameter dimension(String name, String text) {
        SweepParameter.Builder parameter = SweepParameter.newBuilder().setName(name);
        if (text.startsWith("grid:")) {
            List<String> values = new ArrayList<>();
            for (String v : text.substring("grid:".length()).split(",", -1)) {
                if (v.isBlank())
                    throw new IllegalArgumentException("option --" + name + ": '" + text + "' has an empty grid value");
                values.add(v.trim());
            }
            return parameter
                    .setGrid(SweepValues.newBuilder().addAllValues(values))
                    .build();
        }
        boolean log = text.startsWith("log:");
        String[] bounds = text.substring(text.indexOf(':') + 1).split(":", -1);
        if (bounds.length != 2)
            throw new IllegalArgumentException(
                    "option --" + name + ": '" + text + "' must be " + (log ? "log" : "uniform") + ":MIN:MAX");
        double min = number(name, bounds[0]), max = number(name, bounds[1]);
        if (!(min < max))
            throw new IllegalArgumentException(
                    "option --" + name + ": the range " + text + " is empty (MIN must be below MAX)");
        if (log && min <= 0)
            throw new IllegalArgumentException("option --" + name + ": a log range needs positive bounds, got " + text);
        return parameter
                .setRange(SweepRange.newBuilder().setMin(min).setMax(max).setLog(log))
                .build();
    }

    private static double number(String name, String text) {
        try {
            double d = Double.parseDouble(text.trim());
            if (Double.isFinite(d)) return d;
        } catch (NumberFormatException ignored) {
            // refused below
        }
        throw new IllegalArgumentException("option --" + name + ": '" + text + "' is not a number");
    }

    private static void readFile(Path file, Map<String, SweepParameter> parameters, Map<String, String> settings) {
        JsonNode root;
        try {
            root = new ObjectMapper(new YAMLFactory()).readTree(Files.readString(file));
        } catch (IOException e) {
            throw new IllegalArgumentException("--space " + file + ": "
                    + e.getMessage().lines().findFirst().orElse(""));
        }
        if (root == null || !root.isObject())
            throw new IllegalArgumentException("--space " + file + ": must be a mapping with 'parameters'");
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            if (SETTINGS.contains(entry.getKey()))
                settings.put(entry.getKey(), entry.getValue().asText());
            else if (!entry.getKey().equals("parameters"))
                throw new IllegalArgumentException("--space " + file + ": unknown key '" + entry.getKey()
                        + "' (known: parameters, " + String.join(", ", SETTINGS) + ")");
        }
        JsonNode space = root.path("parameters");
        if (!space.isObject() || space.isEmpty())
            throw new IllegalArgumentException("--space " + file + ": 'parameters' must map options to values");
        for (Iterator<Map.Entry<String, JsonNode>> it = space.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            String name = entry.getKey();
            JsonNode value = entry.getValue();
            if (value.isArray()) {
                if (value.isEmpty())
                    throw new IllegalArgumentException(
                            "--space " + file + ": parameter '" + name + "' has an empty list of values");
                List<String> values = new ArrayList<>();
                value.forEach(v -> values.add(v.asText()));
                parameters.put(
                        name,
                        SweepParameter.newBuilder()
                                .setName(name)
                                .setGrid(SweepValues.newBuilder().addAllValues(values))
                                .build());
            } else if (value.isTextual() && isDimension(value.asText())) {
                parameters.put(name, dimension(name, value.asText()));
            } else {
                throw new IllegalArgumentException("--space " + file + ": parameter '" + name
                        + "' must be a list or grid:/log:/uniform:, got " + value);
            }
        }
    }
}

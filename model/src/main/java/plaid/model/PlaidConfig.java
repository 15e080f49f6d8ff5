package plaid.model;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Every option of the original train.py with its default, named as there but camel-cased
 * ({@code batch_size} → {@code batchSize}). Options can be set by either spelling from
 * strings, as a command line or a job request gives them.
 */
public final class PlaidConfig {
    public int batchSize = 256;
    public String dataset = "openwebtext2";
    public int gradAccumSteps = 1;
    public int hookFreq = 10000;
    public double lr = 1.4e-3;
    public int lrWarmupSteps = 2500;
    public int biasWarmupSteps = 5000;
    public boolean lrDecay = true;
    public int printFreq = 1000;
    public boolean saveWeights = true;
    public int steps = 92000;
    public String weightsPath = null;
    public double reconstWeight = 1.0;
    public int dim = 384;
    public int nBlocks = 16;
    public int nHeads = 6;
    public double gamma0 = -3.0;
    public double gamma1 = 6.0;
    public int embedDim = 16;
    public int seqLen = 256;
    public int valSteps = 100;
    public int valBatchSize = 64;
    public double weightDecay = 4e-5;
    public int firstStep = 0;
    public boolean autoResume = false;
    public double decayToInit = 0.0;
    public double ema = 0.0;
    public double beta1 = 0.9;
    public double beta2 = 0.99;
    public boolean selfcond = true;
    public int nShortSeqs = 2;
    public double clipQuantile = 0.95;
    public double reconstBsEma = 0.997;
    public int finalValSteps = 3000;
    /** Not a train.py flag: the dataset decides it there (32768 for OWT2). */
    public int vocabSize = 32768;
    /** Not a train.py flag: the run seed every random draw derives from. */
    public long seed = 0;

    public static PlaidConfig defaults() {
        return new PlaidConfig();
    }

    public PlaidConfig copy() {
        PlaidConfig c = new PlaidConfig();
        for (Field f : optionFields()) {
            try {
                f.set(c, f.get(this));
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
        return c;
    }

    /** Head dimension d = dim / nHeads. */
    public int headDim() {
        return dim / nHeads;
    }

    /** µP width multiplier relative to the base width 256 of the original. */
    public double widthMult() {
        return dim / 256.0;
    }

    /** Throws IllegalArgumentException naming the first option that cannot work. */
    public PlaidConfig validate() {
        require(dim > 0, "dim", "must be positive");
        require(nHeads > 0 && dim % nHeads == 0, "n_heads", "must divide dim " + dim);
        require(headDim() % 2 == 0, "n_heads", "head dim " + headDim() + " must be even for rotary");
        require(nBlocks > 0, "n_blocks", "must be positive");
        require(embedDim > 0, "embed_dim", "must be positive");
        require(vocabSize > 1, "vocab_size", "must be at least 2");
        require(seqLen > 1, "seq_len", "must be at least 2");
        require(batchSize > 1, "batch_size", "must be at least 2");
        require(gradAccumSteps > 0, "grad_accum_steps", "must be positive");
        require(steps > 0, "steps", "must be positive");
        require(lr >= 0, "lr", "must not be negative");
        require(clipQuantile > 0 && clipQuantile <= 1, "clip_quantile", "must be in (0, 1]");
        require(nShortSeqs >= 0, "n_short_seqs", "must not be negative");
        require(hookFreq > 0, "hook_freq", "must be positive");
        require(gamma1 > gamma0, "gamma_1", "must exceed gamma_0");
        return this;
    }

    private static void require(boolean ok, String option, String why) {
        if (!ok) throw new IllegalArgumentException("option " + option + " " + why);
    }

    /** Sets one option from text; {@code name} may be snake_case (the original's) or camelCase. */
    public PlaidConfig set(String name, String value) {
        Field f = optionFields().stream()
                .filter(x -> x.getName().equals(camelCase(name)))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown option " + name));
        try {
            Class<?> type = f.getType();
            if (type == int.class) f.setInt(this, Integer.parseInt(value.trim()));
            else if (type == long.class) f.setLong(this, Long.parseLong(value.trim()));
            else if (type == double.class) f.setDouble(this, Double.parseDouble(value.trim()));
            else if (type == boolean.class) f.setBoolean(this, parseBoolean(name, value));
            else f.set(this, "None".equals(value) ? null : value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("option " + name + ": '" + value + "' is not a valid " + f.getType().getSimpleName());
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
        return this;
    }

    private static boolean parseBoolean(String name, String value) {
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "true", "1", "yes" -> true;
            case "false", "0", "no" -> false;
            default -> throw new IllegalArgumentException("option " + name + ": '" + value + "' is not a boolean");
        };
    }

    /** All options by their original snake_case names, in declaration order. */
    public Map<String, Object> asMap() {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Field f : optionFields()) {
            try {
                out.put(snakeCase(f.getName()), f.get(this));
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
        return out;
    }

    private static java.util.List<Field> optionFields() {
        return java.util.Arrays.stream(PlaidConfig.class.getDeclaredFields())
                .filter(f -> !Modifier.isStatic(f.getModifiers()))
                .toList();
    }

    static String camelCase(String name) {
        if (!name.contains("_")) return name;
        StringBuilder sb = new StringBuilder();
        boolean upper = false;
        for (char ch : name.toCharArray()) {
            if (ch == '_') {
                upper = true;
            } else {
                sb.append(upper ? Character.toUpperCase(ch) : ch);
                upper = false;
            }
        }
        return sb.toString();
    }

    static String snakeCase(String name) {
        // the original writes gamma_0 / gamma_1 but beta1 / beta2
        if (name.startsWith("gamma") && name.length() == 6) return "gamma_" + name.charAt(5);
        StringBuilder sb = new StringBuilder();
        for (char ch : name.toCharArray()) {
            if (Character.isUpperCase(ch)) sb.append('_').append(Character.toLowerCase(ch));
            else sb.append(ch);
        }
        return sb.toString();
    }
}

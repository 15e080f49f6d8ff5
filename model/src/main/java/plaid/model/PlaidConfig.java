package plaid.model;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import plaid.model.bow.BowTransform;
import plaid.model.bow.DiffusionMode;

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
    // ---- the fork's options (plaid-reference §7) ----
    /** Mode words joined by '_', parsed by {@link DiffusionMode#parse}. */
    public String diffusionMode = "token";
    /** ρ of the bow transform, written {@code BoW_cumsum_gamma}; required in the BoW modes only, as in the fork. */
    public Double bowCumsumGamma = null;
    public double reconstSecondaryWeight = 1.0;
    /** λ on ‖M‖² of the raw embedding matrix. */
    public double embedRegularizerLambda = 0.0;
    /** AdamW decay of the embedding matrix; 0 is the original's. */
    public double weightDecayEmbed = 0.0;
    /** linear (the original's) or cosine decay after warm-up. */
    public String lrScheduler = "linear";
    /** Length of the learning-rate schedule when it differs from {@code steps}; None: {@code steps}. */
    public Integer stepsMaxForLrSched = null;
    public String modelSavePath = null;
    /** The run's name for experiment tracking. */
    public String wandbRunName = null;
    public boolean debug = false;
    /** Sampling: guidance and the final argmax read the secondary logits. */
    public boolean useSecondaryLogits = false;
    /** Sampling: only unconditional samples. */
    public boolean justUnconditional = false;
    /** Not a train.py flag: the dataset decides it there (32768 for OWT2). */
    public int vocabSize = 32768;
    /** Not a train.py flag: the run seed every random draw derives from. */
    public long seed = 0;

    /** The fork capitalises this one option's name; camel/snake case conversion cannot recover it. */
    private static final String BOW_CUMSUM_GAMMA = "BoW_cumsum_gamma";
    private static final String BOW_CUMSUM_GAMMA_FIELD = "bowCumsumGamma";

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
        require(reconstSecondaryWeight >= 0, "reconst_secondary_weight", "must not be negative");
        require(embedRegularizerLambda >= 0, "embed_regularizer_lambda", "must not be negative");
        require(weightDecayEmbed >= 0, "weight_decay_embed", "must not be negative");
        require("linear".equals(lrScheduler) || "cosine".equals(lrScheduler), "lr_scheduler", "must be linear or cosine, got " + lrScheduler);
        require(stepsMaxForLrSched == null || stepsMaxForLrSched > 0, "steps_max_for_lr_sched", "must be positive");
        DiffusionMode mode = diffusionMode();
        if (mode.inBowSpace()) {
            require(bowCumsumGamma != null, BOW_CUMSUM_GAMMA, "is required by diffusion_mode " + mode);
            bowTransform();
        }
        return this;
    }

    /** The parsed {@code diffusionMode}; throws naming the option when it is refused. */
    public DiffusionMode diffusionMode() {
        try {
            return DiffusionMode.parse(diffusionMode);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("option diffusion_mode: " + e.getMessage(), e);
        }
    }

    /**
     * The bow transform of ρ = {@code bowCumsumGamma} for this mode ({@link BowTransform#forMode}); throws naming
     * the option when ρ is unset, outside [0, 1], or 1 with rescaling.
     */
    public BowTransform bowTransform() {
        require(bowCumsumGamma != null, BOW_CUMSUM_GAMMA, "is not set");
        DiffusionMode mode = diffusionMode();
        try {
            return BowTransform.forMode(mode, bowCumsumGamma);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("option " + BOW_CUMSUM_GAMMA + ": " + e.getMessage(), e);
        }
    }

    /** Steps the learning-rate schedule spans. */
    public int lrScheduleSteps() {
        return stepsMaxForLrSched != null ? stepsMaxForLrSched : steps;
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
            else if (type == Integer.class) f.set(this, "None".equals(value) ? null : Integer.valueOf(value.trim()));
            else if (type == Double.class) f.set(this, "None".equals(value) ? null : Double.valueOf(value.trim()));
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
        if (name.equals(BOW_CUMSUM_GAMMA)) return BOW_CUMSUM_GAMMA_FIELD;
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
        if (name.equals(BOW_CUMSUM_GAMMA_FIELD)) return BOW_CUMSUM_GAMMA;
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

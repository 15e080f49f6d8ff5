package plaid.options;

import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import plaid.options.bow.BowTransform;
import plaid.options.bow.DiffusionMode;

/**
 * The options of one run: every row of {@link OptionTable}, which gives each its train.py name,
 * default and range (defaults are set there, not here). Fields are named as train.py's options,
 * camel-cased ({@code batch_size} → {@code batchSize}); the model reads them directly, anything
 * that names an option by text goes through the table ({@link #set}, {@link #asMap}). A row may
 * also have no field here: then this object holds its value, read with {@link #get}.
 */
public final class PlaidConfig {
    public int batchSize;
    public String dataset;
    public int gradAccumSteps;
    public int hookFreq;
    public double lr;
    public int lrWarmupSteps;
    public int biasWarmupSteps;
    public boolean lrDecay;
    public int printFreq;
    public boolean saveWeights;
    public int steps;
    public String weightsPath;
    public double reconstWeight;
    public int dim;
    public int nBlocks;
    public int nHeads;
    public double gamma0;
    public double gamma1;
    public int embedDim;
    public int seqLen;
    public int valSteps;
    public int valBatchSize;
    public double weightDecay;
    public int firstStep;
    public boolean autoResume;
    public double decayToInit;
    public double ema;
    public double beta1;
    public double beta2;
    public boolean selfcond;
    public int nShortSeqs;
    public double clipQuantile;
    public double reconstBsEma;
    public int finalValSteps;
    // ---- the fork's options (plaid-reference §7) ----
    /** Mode words joined by '_', parsed by {@link DiffusionMode#parse}. */
    public String diffusionMode;
    /** ρ of the bow transform, written {@code BoW_cumsum_gamma}; required in the BoW modes only, as in the fork. */
    public Double bowCumsumGamma;

    public double reconstSecondaryWeight;
    public double embedRegularizerLambda;
    public double weightDecayEmbed;
    public String lrScheduler;
    /** None: {@code steps}. */
    public Integer stepsMaxForLrSched;

    public String modelSavePath;
    public String wandbRunName;
    public boolean debug;
    public boolean useSecondaryLogits;
    public boolean justUnconditional;
    public int vocabSize;
    public long seed;
    /** The values of the rows that have no field above. */
    private final Map<Option<?>, Object> held = new IdentityHashMap<>();

    private PlaidConfig() {
        for (Option<?> option : OptionTable.ALL) option.reset(this);
    }

    /** train.py's defaults. */
    public static PlaidConfig defaults() {
        return new PlaidConfig();
    }

    public PlaidConfig copy() {
        PlaidConfig c = new PlaidConfig();
        for (Option<?> option : OptionTable.ALL) option.copy(this, c);
        c.held.putAll(held);
        return c;
    }

    /** The value of one option. */
    public <T> T get(Option<T> option) {
        return option.get(this);
    }

    Object held(Option<?> option) {
        return held.containsKey(option) ? held.get(option) : option.defaultValue();
    }

    void hold(Option<?> option, Object value) {
        held.put(option, value);
    }

    /** Sets one option to a value of its type (checked by {@link #validate}). */
    public <T> PlaidConfig set(Option<T> option, T value) {
        option.set(this, value);
        return this;
    }

    /**
     * Sets one option from text, as a command line or config.json gives it; {@code None} unsets an
     * optional one.
     *
     * @param name train.py's spelling, e.g. {@code batch_size} or {@code BoW_cumsum_gamma}
     * @throws OptionRefusal for an unknown option or a text that is not of its type
     */
    public PlaidConfig set(String name, String value) {
        option(name).parseInto(this, value);
        return this;
    }

    /** The table's row of the option train.py spells {@code name}, or a refusal. */
    public static Option<?> option(String name) {
        return OptionTable.byName(name)
                .orElseThrow(() -> new OptionRefusal(name, "is not an option of train.py or sample.py"));
    }

    /** Head dimension d = dim / nHeads. */
    public int headDim() {
        return dim / nHeads;
    }

    /** µP width multiplier relative to the base width 256 of the original. */
    public double widthMult() {
        return dim / 256.0;
    }

    /** Steps the learning-rate schedule spans. */
    public int lrScheduleSteps() {
        return stepsMaxForLrSched != null ? stepsMaxForLrSched : steps;
    }

    /**
     * Checks every option against its range in the table, then the rules between options.
     *
     * @throws OptionRefusal naming the first option that cannot work
     */
    public PlaidConfig validate() {
        for (Option<?> option : OptionTable.ALL) option.check(this);
        require(dim % nHeads == 0, OptionTable.N_HEADS, "must divide dim " + dim);
        require(headDim() % 2 == 0, OptionTable.N_HEADS, "head dim " + headDim() + " must be even for rotary");
        require(gamma1 > gamma0, OptionTable.GAMMA_1, "must exceed gamma_0");
        require(
                batchSize % gradAccumSteps == 0,
                OptionTable.GRAD_ACCUM_STEPS,
                "must divide batch_size " + batchSize + ", got " + gradAccumSteps);
        if (diffusionMode().inBowSpace()) {
            require(
                    bowCumsumGamma != null,
                    OptionTable.BOW_CUMSUM_GAMMA,
                    "is required by diffusion_mode " + diffusionMode);
            bowTransform();
        }
        return this;
    }

    /** The parsed {@code diffusionMode}; throws naming the option when it is refused. */
    public DiffusionMode diffusionMode() {
        try {
            return DiffusionMode.parse(diffusionMode);
        } catch (IllegalArgumentException e) {
            throw new OptionRefusal(OptionTable.DIFFUSION_MODE.name(), e.getMessage(), e);
        }
    }

    /**
     * The bow transform of ρ = {@code bowCumsumGamma} for this mode ({@link BowTransform#forMode}); throws naming
     * the option when ρ is unset, outside [0, 1], or 1 with rescaling.
     */
    public BowTransform bowTransform() {
        require(bowCumsumGamma != null, OptionTable.BOW_CUMSUM_GAMMA, "is not set");
        DiffusionMode mode = diffusionMode();
        try {
            return BowTransform.forMode(mode, bowCumsumGamma);
        } catch (IllegalArgumentException e) {
            throw new OptionRefusal(OptionTable.BOW_CUMSUM_GAMMA.name(), e.getMessage(), e);
        }
    }

    private static void require(boolean ok, Option<?> option, String why) {
        if (!ok) throw new OptionRefusal(option.name(), why);
    }

    /** All options by train.py's names, in the table's order: config.json. */
    public Map<String, Object> asMap() {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Option<?> option : OptionTable.ALL) out.put(option.name(), option.get(this));
        return out;
    }

    /**
     * The options of a map such as {@link #asMap} gives (config.json read back): each value as
     * its text; null and absent ones keep their defaults. Not validated.
     */
    public static PlaidConfig fromMap(Map<String, ?> values) {
        PlaidConfig config = defaults();
        values.forEach((name, value) -> {
            if (value != null) config.set(name, value.toString());
        });
        return config;
    }
}

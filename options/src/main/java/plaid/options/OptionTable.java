package plaid.options;

import static plaid.options.OptionGroup.OPTIMIZATION;
import static plaid.options.OptionGroup.REPORTING;
import static plaid.options.OptionGroup.RUN;
import static plaid.options.OptionGroup.SAMPLING;
import static plaid.options.OptionGroup.SHAPE;
import static plaid.options.OptionKind.BOOL;
import static plaid.options.OptionKind.DOUBLE;
import static plaid.options.OptionKind.INT;
import static plaid.options.OptionKind.LONG;
import static plaid.options.OptionKind.TEXT;
import static plaid.options.Range.any;
import static plaid.options.Range.atLeast;
import static plaid.options.Range.closed;
import static plaid.options.Range.closedOpen;
import static plaid.options.Range.ints;
import static plaid.options.Range.nonNegative;
import static plaid.options.Range.openClosed;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.stream.Collectors;
import plaid.options.bow.DiffusionMode;

/**
 * Every option of the original train.py and sample.py, once: its spelling there (the flag and the
 * config.json key), the plaid.v1 field that carries it, type, default, range, doc, and the
 * {@link PlaidConfig} field holding it. The command line's flags, the proto translation
 * ({@link SpecOptions}), config.json and every refusal are read off this table. A new option is
 * one row here (with null for the PlaidConfig field's getter and setter, it is read as
 * {@code config.get(OptionTable.ROW)}; a proto field named in the row carries it over gRPC) plus
 * its use.
 *
 * <p>The upper bounds on sizes are not the original's (it has none); they keep one option from
 * asking for more memory or time than any machine has by itself (seq_len=100000000 wedged a job
 * worker, batch_size=99999998 ran the trainer out of heap). The original's largest runs (Plaid 1B:
 * dim 2048, 24 blocks, seq_len 1024, batch 256) are well inside them. Whether a whole job fits the
 * service's memory is a separate check of the shape and batch together.
 */
public final class OptionTable {
    /** Largest model width, a multiple of every head count the original uses (GPT-3 175B's is 12288). */
    public static final int MAX_DIM = 16384;

    public static final int MAX_BLOCKS = 1024;
    public static final int MAX_EMBED_DIM = 4096;
    /** Largest sequence: attention's memory grows with its square. */
    public static final int MAX_SEQ_LEN = 8192;

    public static final int MAX_VOCAB = 1 << 20;
    /** Largest batch, in sequences, of training and of validation. */
    public static final int MAX_BATCH = 4096;
    /** Largest step count of a run or its schedule. */
    public static final int MAX_STEPS = 1_000_000_000;
    /**
     * Largest learning rate. AdamW moves every weight by about lr a step, so nothing trains far
     * above 1 (the original's is 1.4e-3), but a run that is meant to diverge (lr=1e3 turns the
     * loss NaN within 40 steps, and the job then fails) is still a run a user may ask for; the
     * bound only refuses values that are absurd (1e300) or not numbers.
     */
    public static final double MAX_LR = 1e3;
    /** Noise-schedule endpoints: log-SNRs beyond ±100 underflow every float the model computes in. */
    public static final double MAX_GAMMA = 100;

    private OptionTable() {}

    // One line a row, however long: the formatter leaves them as they are.
    // spotless:off
    // name, group, proto field, type, default, range, doc, PlaidConfig field (get, set)
    public static final Option<Integer> BATCH_SIZE = row("batch_size", OPTIMIZATION, "batch_size", INT, 256, ints(2, MAX_BATCH), "sequences per optimiser step, over all devices", c -> c.batchSize, (c, v) -> c.batchSize = v);
    public static final Option<String> DATASET = row("dataset", RUN, null, TEXT, "openwebtext2", any(), "the training corpus (a plaid.v1 job's corpus)", c -> c.dataset, (c, v) -> c.dataset = v);
    public static final Option<Integer> GRAD_ACCUM_STEPS = row("grad_accum_steps", OPTIMIZATION, "grad_accum_steps", INT, 1, ints(1, MAX_BATCH), "micro-batches a step is split into; divides batch_size", c -> c.gradAccumSteps, (c, v) -> c.gradAccumSteps = v);
    public static final Option<Integer> HOOK_FREQ = row("hook_freq", REPORTING, "hook_freq", INT, 10000, atLeast(1), "validation and a checkpoint every this many steps", c -> c.hookFreq, (c, v) -> c.hookFreq = v);
    public static final Option<Double> LR = row("lr", OPTIMIZATION, "lr", DOUBLE, 1.4e-3, openClosed(0, MAX_LR), "peak learning rate of the base width (µP scales it by width)", c -> c.lr, (c, v) -> c.lr = v);
    public static final Option<Integer> LR_WARMUP_STEPS = row("lr_warmup_steps", OPTIMIZATION, "lr_warmup_steps", INT, 2500, ints(0, MAX_STEPS), "linear warm-up of the learning rate", c -> c.lrWarmupSteps, (c, v) -> c.lrWarmupSteps = v);
    public static final Option<Integer> BIAS_WARMUP_STEPS = row("bias_warmup_steps", OPTIMIZATION, "bias_warmup_steps", INT, 5000, ints(0, MAX_STEPS), "the output bias's learning rate warms up over this many steps", c -> c.biasWarmupSteps, (c, v) -> c.biasWarmupSteps = v);
    public static final Option<Boolean> LR_DECAY = row("lr_decay", OPTIMIZATION, "lr_decay", BOOL, true, any(), "decay the learning rate after warm-up (as lr_scheduler says)", c -> c.lrDecay, (c, v) -> c.lrDecay = v);
    public static final Option<Integer> PRINT_FREQ = row("print_freq", REPORTING, "print_freq", INT, 1000, atLeast(1), "a metrics line (StepMetrics event) every this many steps", c -> c.printFreq, (c, v) -> c.printFreq = v);
    public static final Option<Boolean> SAVE_WEIGHTS = row("save_weights", RUN, null, BOOL, true, any(), "write checkpoints", c -> c.saveWeights, (c, v) -> c.saveWeights = v);
    public static final Option<Integer> STEPS = row("steps", OPTIMIZATION, "steps", INT, 92000, ints(1, MAX_STEPS), "optimiser steps of the run (the command line's --steps=0 evaluates instead)", c -> c.steps, (c, v) -> c.steps = v);
    public static final Option<String> WEIGHTS_PATH = optional("weights_path", RUN, null, TEXT, null, any(), "start from these weights (a plaid.v1 job's weights_from; sample.py's model)", c -> c.weightsPath, (c, v) -> c.weightsPath = v);
    public static final Option<Double> RECONST_WEIGHT = row("reconst_weight", OPTIMIZATION, "reconst_weight", DOUBLE, 1.0, nonNegative(), "weight of the reconstruction loss", c -> c.reconstWeight, (c, v) -> c.reconstWeight = v);
    public static final Option<Integer> DIM = row("dim", SHAPE, "dim", INT, 384, ints(2, MAX_DIM), "model width", c -> c.dim, (c, v) -> c.dim = v);
    public static final Option<Integer> N_BLOCKS = row("n_blocks", SHAPE, "n_blocks", INT, 16, ints(1, MAX_BLOCKS), "transformer blocks", c -> c.nBlocks, (c, v) -> c.nBlocks = v);
    public static final Option<Integer> N_HEADS = row("n_heads", SHAPE, "n_heads", INT, 6, ints(1, MAX_DIM / 2), "attention heads; divides dim into an even head width", c -> c.nHeads, (c, v) -> c.nHeads = v);
    public static final Option<Double> GAMMA_0 = row("gamma_0", SHAPE, "gamma_0", DOUBLE, -3.0, closed(-MAX_GAMMA, MAX_GAMMA), "initial noise schedule: log-SNR's lower end", c -> c.gamma0, (c, v) -> c.gamma0 = v);
    public static final Option<Double> GAMMA_1 = row("gamma_1", SHAPE, "gamma_1", DOUBLE, 6.0, closed(-MAX_GAMMA, MAX_GAMMA), "initial noise schedule: log-SNR's upper end; above gamma_0", c -> c.gamma1, (c, v) -> c.gamma1 = v);
    public static final Option<Integer> EMBED_DIM = row("embed_dim", SHAPE, "embed_dim", INT, 16, ints(1, MAX_EMBED_DIM), "width of the token embeddings diffusion runs on", c -> c.embedDim, (c, v) -> c.embedDim = v);
    public static final Option<Integer> SEQ_LEN = row("seq_len", SHAPE, "seq_len", INT, 256, ints(2, MAX_SEQ_LEN), "tokens per sequence", c -> c.seqLen, (c, v) -> c.seqLen = v);
    public static final Option<Integer> VAL_STEPS = row("val_steps", REPORTING, "val_steps", INT, 100, ints(1, MAX_STEPS), "validation batches at each hook", c -> c.valSteps, (c, v) -> c.valSteps = v);
    public static final Option<Integer> VAL_BATCH_SIZE = row("val_batch_size", REPORTING, "val_batch_size", INT, 64, ints(1, MAX_BATCH), "sequences per validation batch", c -> c.valBatchSize, (c, v) -> c.valBatchSize = v);
    public static final Option<Double> WEIGHT_DECAY = row("weight_decay", OPTIMIZATION, "weight_decay", DOUBLE, 4e-5, nonNegative(), "AdamW's decoupled weight decay", c -> c.weightDecay, (c, v) -> c.weightDecay = v);
    public static final Option<Integer> FIRST_STEP = row("first_step", RUN, null, INT, 0, ints(0, MAX_STEPS), "the step a run starts counting at", c -> c.firstStep, (c, v) -> c.firstStep = v);
    public static final Option<Boolean> AUTO_RESUME = row("auto_resume", RUN, null, BOOL, false, any(), "resume from the run's own latest checkpoint", c -> c.autoResume, (c, v) -> c.autoResume = v);
    public static final Option<Double> DECAY_TO_INIT = row("decay_to_init", OPTIMIZATION, "decay_to_init", DOUBLE, 0.0, closed(0, 1), "pull towards the initial weights, fading linearly over the run", c -> c.decayToInit, (c, v) -> c.decayToInit = v);
    public static final Option<Double> EMA = row("ema", OPTIMIZATION, "ema", DOUBLE, 0.0, closed(0, 1), "decay of the EMA weights (0: none)", c -> c.ema, (c, v) -> c.ema = v);
    public static final Option<Double> BETA1 = row("beta1", OPTIMIZATION, "beta_1", DOUBLE, 0.9, closedOpen(0, 1), "AdamW's first-moment decay", c -> c.beta1, (c, v) -> c.beta1 = v);
    public static final Option<Double> BETA2 = row("beta2", OPTIMIZATION, "beta_2", DOUBLE, 0.99, closedOpen(0, 1), "AdamW's second-moment decay", c -> c.beta2, (c, v) -> c.beta2 = v);
    public static final Option<Boolean> SELFCOND = row("selfcond", SHAPE, "self_conditioning", BOOL, true, any(), "self-conditioning on the previous estimate", c -> c.selfcond, (c, v) -> c.selfcond = v);
    public static final Option<Integer> N_SHORT_SEQS = row("n_short_seqs", OPTIMIZATION, "n_short_seqs", INT, 2, ints(0, MAX_BATCH), "sequences a step cut short at a random length", c -> c.nShortSeqs, (c, v) -> c.nShortSeqs = v);
    public static final Option<Double> CLIP_QUANTILE = row("clip_quantile", OPTIMIZATION, "clip_quantile", DOUBLE, 0.95, openClosed(0, 1), "gradients are clipped at this quantile of recent norms", c -> c.clipQuantile, (c, v) -> c.clipQuantile = v);
    public static final Option<Double> RECONST_BS_EMA = row("reconst_bs_ema", OPTIMIZATION, "reconst_bs_ema", DOUBLE, 0.997, closed(0, 1), "EMA decay of the reconstruction batch size's estimate", c -> c.reconstBsEma, (c, v) -> c.reconstBsEma = v);
    public static final Option<Integer> FINAL_VAL_STEPS = row("final_val_steps", REPORTING, "final_val_steps", INT, 3000, ints(0, MAX_STEPS), "validation batches after the last step", c -> c.finalValSteps, (c, v) -> c.finalValSteps = v);
    // ---- the fork's options (plaid-reference §7) ----
    public static final Option<String> DIFFUSION_MODE = row("diffusion_mode", SHAPE, "diffusion_mode", TEXT, "token", Range.checkedBy("mode words joined by '_'", OptionTable::modeProblem), "the fork's diffusion mode: words joined by '_' (DiffusionMode)", c -> c.diffusionMode, (c, v) -> c.diffusionMode = v);
    public static final Option<Double> BOW_CUMSUM_GAMMA = optional("BoW_cumsum_gamma", SHAPE, "bow_cumsum_gamma", DOUBLE, null, closed(0, 1), "ρ of the bow transform; required in the BoW modes", c -> c.bowCumsumGamma, (c, v) -> c.bowCumsumGamma = v);
    public static final Option<Double> RECONST_SECONDARY_WEIGHT = row("reconst_secondary_weight", OPTIMIZATION, "reconst_secondary_weight", DOUBLE, 1.0, nonNegative(), "weight of the reconstruction loss on the secondary logits", c -> c.reconstSecondaryWeight, (c, v) -> c.reconstSecondaryWeight = v);
    public static final Option<Double> EMBED_REGULARIZER_LAMBDA = row("embed_regularizer_lambda", OPTIMIZATION, "embed_regularizer_lambda", DOUBLE, 0.0, nonNegative(), "λ on ‖M‖² of the raw embedding matrix", c -> c.embedRegularizerLambda, (c, v) -> c.embedRegularizerLambda = v);
    public static final Option<Double> WEIGHT_DECAY_EMBED = row("weight_decay_embed", OPTIMIZATION, "weight_decay_embed", DOUBLE, 0.0, nonNegative(), "AdamW decay of the embedding matrix", c -> c.weightDecayEmbed, (c, v) -> c.weightDecayEmbed = v);
    public static final Option<String> LR_SCHEDULER = row("lr_scheduler", OPTIMIZATION, "lr_scheduler", TEXT, "linear", Range.oneOf("linear", "cosine"), "decay after warm-up: linear (to 0) or cosine", c -> c.lrScheduler, (c, v) -> c.lrScheduler = v);
    public static final Option<Integer> STEPS_MAX_FOR_LR_SCHED = optional("steps_max_for_lr_sched", OPTIMIZATION, "steps_max_for_lr_sched", INT, null, ints(1, MAX_STEPS), "length of the learning-rate schedule (None: steps)", c -> c.stepsMaxForLrSched, (c, v) -> c.stepsMaxForLrSched = v);
    public static final Option<String> MODEL_SAVE_PATH = optional("model_save_path", REPORTING, "model_save_path", TEXT, null, any(), "where checkpoints go (the service confines it to its run root)", c -> c.modelSavePath, (c, v) -> c.modelSavePath = v);
    public static final Option<String> WANDB_RUN_NAME = optional("wandb_run_name", REPORTING, "wandb_run_name", TEXT, null, any(), "the run's name for experiment tracking", c -> c.wandbRunName, (c, v) -> c.wandbRunName = v);
    public static final Option<Boolean> DEBUG = row("debug", REPORTING, "debug", BOOL, false, any(), "recorded only: the fork's train.py, which reads it, is not public", c -> c.debug, (c, v) -> c.debug = v);
    public static final Option<Boolean> USE_SECONDARY_LOGITS = row("use_secondary_logits", SAMPLING, null, BOOL, false, any(), "guidance and the final argmax read the secondary logits", c -> c.useSecondaryLogits, (c, v) -> c.useSecondaryLogits = v);
    public static final Option<Boolean> JUST_UNCONDITIONAL = row("just_unconditional", SAMPLING, null, BOOL, false, any(), "only unconditional samples", c -> c.justUnconditional, (c, v) -> c.justUnconditional = v);
    public static final Option<Integer> VOCAB_SIZE = row("vocab_size", SHAPE, "vocab_size", INT, 32768, ints(2, MAX_VOCAB), "not a train.py flag: the dataset decides it there (32768 for OWT2)", c -> c.vocabSize, (c, v) -> c.vocabSize = v);
    public static final Option<Long> SEED = row("seed", RUN, null, LONG, 0L, any(), "not a train.py flag: the run seed every random draw derives from (a plaid.v1 job's seed)", c -> c.seed, (c, v) -> c.seed = v);
    // spotless:on

    /** Every option, in the order above (config.json's). */
    public static final List<Option<?>> ALL = List.of(
            BATCH_SIZE,
            DATASET,
            GRAD_ACCUM_STEPS,
            HOOK_FREQ,
            LR,
            LR_WARMUP_STEPS,
            BIAS_WARMUP_STEPS,
            LR_DECAY,
            PRINT_FREQ,
            SAVE_WEIGHTS,
            STEPS,
            WEIGHTS_PATH,
            RECONST_WEIGHT,
            DIM,
            N_BLOCKS,
            N_HEADS,
            GAMMA_0,
            GAMMA_1,
            EMBED_DIM,
            SEQ_LEN,
            VAL_STEPS,
            VAL_BATCH_SIZE,
            WEIGHT_DECAY,
            FIRST_STEP,
            AUTO_RESUME,
            DECAY_TO_INIT,
            EMA,
            BETA1,
            BETA2,
            SELFCOND,
            N_SHORT_SEQS,
            CLIP_QUANTILE,
            RECONST_BS_EMA,
            FINAL_VAL_STEPS,
            DIFFUSION_MODE,
            BOW_CUMSUM_GAMMA,
            RECONST_SECONDARY_WEIGHT,
            EMBED_REGULARIZER_LAMBDA,
            WEIGHT_DECAY_EMBED,
            LR_SCHEDULER,
            STEPS_MAX_FOR_LR_SCHED,
            MODEL_SAVE_PATH,
            WANDB_RUN_NAME,
            DEBUG,
            USE_SECONDARY_LOGITS,
            JUST_UNCONDITIONAL,
            VOCAB_SIZE,
            SEED);

    private static final Map<String, Option<?>> BY_NAME =
            ALL.stream().collect(Collectors.toUnmodifiableMap(Option::name, o -> o));

    /** The option train.py / sample.py spells {@code name}. */
    public static Optional<Option<?>> byName(String name) {
        return Optional.ofNullable(BY_NAME.get(name));
    }

    /** The option {@code group}'s message carries in its field {@code field}. */
    public static Optional<Option<?>> byField(OptionGroup group, String field) {
        return ALL.stream()
                .filter(o -> o.group() == group && field.equals(o.field()))
                .findFirst();
    }

    /** The options of one group, in table order. */
    public static List<Option<?>> of(OptionGroup group) {
        return ALL.stream().filter(o -> o.group() == group).toList();
    }

    private static String modeProblem(String mode) {
        try {
            DiffusionMode.parse(mode);
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    private static <T> Option<T> row(
            String name,
            OptionGroup group,
            String field,
            OptionKind<T> kind,
            T defaultValue,
            Range<T> range,
            String doc,
            Function<PlaidConfig, T> get,
            BiConsumer<PlaidConfig, T> set) {
        return new Option<>(name, group, field, kind, false, defaultValue, range, doc, get, set);
    }

    private static <T> Option<T> optional(
            String name,
            OptionGroup group,
            String field,
            OptionKind<T> kind,
            T defaultValue,
            Range<T> range,
            String doc,
            Function<PlaidConfig, T> get,
            BiConsumer<PlaidConfig, T> set) {
        return new Option<>(name, group, field, kind, true, defaultValue, range, doc, get, set);
    }
}

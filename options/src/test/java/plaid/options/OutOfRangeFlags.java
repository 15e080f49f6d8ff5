package plaid.options;

import java.util.List;

/**
 * Issue 21's out-of-range flags, one list for every test that feeds them somewhere: the cli's
 * {@code --validate-only} (TrainCommandTest) and SubmitJob beside it (trainer-svc's
 * OptionRefusalsAgreeTest). In the options' test-jar.
 */
public final class OutOfRangeFlags {
    private OutOfRangeFlags() {}

    /** Flag, value: each out of its own range on the tiny spec (dim 32, n_heads 2, batch_size 8). */
    public static final List<List<String>> OWN_RANGE = List.of(
            List.of("lr", "NaN"),
            List.of("lr", "1e309"),
            List.of("lr", "1e300"),
            List.of("lr", "0"),
            List.of("ema", "2"),
            List.of("ema", "-1"),
            List.of("beta1", "1.5"),
            List.of("beta2", "1"),
            List.of("weight_decay", "-1"),
            List.of("lr_warmup_steps", "-1"),
            List.of("grad_accum_steps", "3"),
            List.of("seq_len", "100000000"),
            List.of("batch_size", "99999998"),
            List.of("val_batch_size", "0"),
            List.of("print_freq", "0"),
            List.of("val_steps", "0"),
            List.of("final_val_steps", "-1"),
            List.of("clip_quantile", "0"),
            List.of("n_heads", "3"),
            List.of("BoW_cumsum_gamma", "1.5"));

    /** A value in its range that another option's absence makes wrong: the BoW mode needs BoW_cumsum_gamma, unset. */
    public static final List<String> NEEDS_ANOTHER = List.of("diffusion_mode", "BoW_embedding");
}

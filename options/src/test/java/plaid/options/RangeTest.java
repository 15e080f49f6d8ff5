package plaid.options;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Issue 21's out-of-range options, each refused by PlaidConfig.validate naming the option. */
class RangeTest {

    @Test
    void theLearningRateIsFinitePositiveAndSane() {
        assertRefused("lr", "NaN", "must be a number, got NaN");
        assertRefused(
                "lr",
                "1e309",
                "must be finite, got Infinity (a literal beyond ±1.8e308, such as 1e309, reads as infinite)");
        assertRefused("lr", "-Infinity", "must be finite, got -Infinity");
        assertRefused("lr", "1e300", "must be in (0, 1000], got 1.0E300");
        assertRefused("lr", "1e4", "must be in (0, 1000], got 10000.0");
        assertRefused("lr", "0", "must be in (0, 1000], got 0.0");
        assertRefused("lr", "-1e-3", "must be in (0, 1000], got -0.001");
        assertThat(PlaidConfig.defaults().set("lr", "1").validate().lr).isEqualTo(1.0);
    }

    @Test
    void decaysAndWeightsStayInTheirIntervals() {
        assertRefused("ema", "2", "must be in [0, 1], got 2.0");
        assertRefused("ema", "-1", "must be in [0, 1], got -1.0");
        assertRefused("ema", "NaN", "must be a number, got NaN");
        assertThat(PlaidConfig.defaults().set("ema", "1").validate().ema).isEqualTo(1.0);
        assertRefused("beta1", "1.5", "must be in [0, 1), got 1.5");
        assertRefused("beta1", "1", "must be in [0, 1), got 1.0");
        assertRefused("beta2", "-0.1", "must be in [0, 1), got -0.1");
        assertRefused("weight_decay", "-1e-5", "must not be negative, got -1.0E-5");
        assertRefused("weight_decay", "NaN", "must be a number, got NaN");
        assertRefused("decay_to_init", "1.5", "must be in [0, 1], got 1.5");
        assertRefused("clip_quantile", "0", "must be in (0, 1], got 0.0");
        assertRefused("reconst_bs_ema", "1.01", "must be in [0, 1], got 1.01");
        assertRefused("reconst_weight", "-1", "must not be negative, got -1.0");
        assertRefused("gamma_0", "1e9", "must be in [-100, 100], got 1.0E9");
    }

    @Test
    void countsAreBounded() {
        assertRefused("lr_warmup_steps", "-1", "must be at least 0, got -1");
        assertRefused("bias_warmup_steps", "-1", "must be at least 0, got -1");
        assertRefused("seq_len", "100000000", "must be at most " + OptionTable.MAX_SEQ_LEN + ", got 100000000");
        assertRefused("batch_size", "99999998", "must be at most " + OptionTable.MAX_BATCH + ", got 99999998");
        assertRefused("val_batch_size", "0", "must be at least 1, got 0");
        assertRefused("print_freq", "0", "must be at least 1, got 0");
        assertRefused("val_steps", "0", "must be at least 1, got 0");
        assertRefused("final_val_steps", "-1", "must be at least 0, got -1");
        assertRefused("hook_freq", "0", "must be at least 1, got 0");
        assertRefused("dim", "1000000", "must be at most " + OptionTable.MAX_DIM + ", got 1000000");
        assertRefused("vocab_size", "1", "must be at least 2, got 1");
        assertRefused("steps", "0", "must be at least 1, got 0");
    }

    @Test
    void rulesBetweenOptionsNameTheOptionThatBreaksThem() {
        assertRefused(
                PlaidConfig.defaults().set("batch_size", "10").set("grad_accum_steps", "3"),
                "grad_accum_steps",
                "must divide batch_size 10, got 3");
        assertRefused(PlaidConfig.defaults().set("dim", "30").set("n_heads", "4"), "n_heads", "must divide dim 30");
        assertRefused(PlaidConfig.defaults().set("gamma_1", "-5"), "gamma_1", "must exceed gamma_0");
        assertRefused(
                PlaidConfig.defaults().set("diffusion_mode", "BoW_embedding").set("BoW_cumsum_gamma", "1"),
                "BoW_cumsum_gamma",
                "BoW_cumsum_gamma 1 rescales bow by 1 − ρ = 0; add the no_rescale word for a plain cumulative sum");
        assertThat(PlaidConfig.defaults()
                        .set("batch_size", "12")
                        .set("grad_accum_steps", "3")
                        .validate()
                        .gradAccumSteps)
                .isEqualTo(3);
    }

    @Test
    void textThatIsNotOfTheTypeIsRefusedByName() {
        assertThatThrownBy(() -> PlaidConfig.defaults().set("dim", "wide"))
                .isInstanceOfSatisfying(OptionRefusal.class, r -> {
                    assertThat(r.option()).isEqualTo("dim");
                    assertThat(r.problem()).isEqualTo("'wide' is not a valid int");
                });
        assertThatThrownBy(() -> PlaidConfig.defaults().set("dim", "3000000000"))
                .hasMessage("option dim '3000000000' is not a valid int");
        assertThatThrownBy(() -> PlaidConfig.defaults().set("selfcond", "maybe"))
                .hasMessage("option selfcond 'maybe' is not True or False");
        assertThatThrownBy(() -> PlaidConfig.defaults().set("dim", "None"))
                .hasMessage("option dim 'None' is not a valid int");
        assertThatThrownBy(() -> PlaidConfig.defaults().set("no_such", "1"))
                .hasMessage("option no_such is not an option of train.py or sample.py");
        assertThatThrownBy(() -> PlaidConfig.defaults().set("dim", "384.0"))
                .as("as argparse's int")
                .hasMessage("option dim '384.0' is not a valid int");
    }

    private static void assertRefused(String option, String value, String problem) {
        assertRefused(PlaidConfig.defaults().set(option, value), option, problem);
    }

    private static void assertRefused(PlaidConfig config, String option, String problem) {
        assertThatThrownBy(config::validate).isInstanceOfSatisfying(OptionRefusal.class, r -> {
            assertThat(r.option()).isEqualTo(option);
            assertThat(r.problem()).isEqualTo(problem);
        });
    }
}

package plaid.options;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;
import plaid.options.bow.DiffusionMode;

class PlaidConfigTest {

    @Test
    void forkOptionsHaveTheirDefaults() {
        PlaidConfig c = PlaidConfig.defaults().validate();
        assertThat(c.diffusionMode()).isEqualTo(DiffusionMode.TOKEN);
        assertThat(c.bowCumsumGamma).isNull();
        assertThat(c.lrScheduler).isEqualTo("linear");
        assertThat(c.lrScheduleSteps()).isEqualTo(c.steps);
        assertThat(c.weightDecayEmbed).isZero();
        assertThat(c.embedRegularizerLambda).isZero();
    }

    @Test
    void everyForkOptionIsSettableByItsSeedSpelling() {
        PlaidConfig c = PlaidConfig.defaults();
        Map<String, String> seedArgs = Map.ofEntries(
                Map.entry("diffusion_mode", "BoW_embedding"),
                Map.entry("BoW_cumsum_gamma", "0.5"),
                Map.entry("reconst_secondary_weight", "0.31"),
                Map.entry("embed_regularizer_lambda", "0.1"),
                Map.entry("weight_decay_embed", "0.002"),
                Map.entry("lr_scheduler", "cosine"),
                Map.entry("steps_max_for_lr_sched", "120000"),
                Map.entry("model_save_path", "diffusion_hype_model_saves/run"),
                Map.entry("wandb_run_name", "run"),
                Map.entry("debug", "True"),
                Map.entry("use_secondary_logits", "True"),
                Map.entry("just_unconditional", "True"));
        seedArgs.forEach(c::set);
        c.validate();

        assertThat(c.diffusionMode()).isEqualTo(DiffusionMode.parse("BoW_embedding"));
        assertThat(c.bowCumsumGamma).isEqualTo(0.5);
        assertThat(c.bowTransform().decay()).isEqualTo(0.5);
        assertThat(c.reconstSecondaryWeight).isEqualTo(0.31);
        assertThat(c.embedRegularizerLambda).isEqualTo(0.1);
        assertThat(c.weightDecayEmbed).isEqualTo(0.002);
        assertThat(c.lrScheduler).isEqualTo("cosine");
        assertThat(c.lrScheduleSteps()).isEqualTo(120000);
        assertThat(c.modelSavePath).isEqualTo("diffusion_hype_model_saves/run");
        assertThat(c.wandbRunName).isEqualTo("run");
        assertThat(c.debug).isTrue();
        assertThat(c.useSecondaryLogits).isTrue();
        assertThat(c.justUnconditional).isTrue();
        // the map (a checkpoint's config.json) writes the seed's spellings back
        assertThat(c.asMap()).containsKeys(seedArgs.keySet().toArray(String[]::new));
        assertThat(c.copy().asMap()).isEqualTo(c.asMap());
    }

    @Test
    void noneUnsetsTheOptionalOnes() {
        PlaidConfig c =
                PlaidConfig.defaults().set("steps_max_for_lr_sched", "10").set("BoW_cumsum_gamma", "0.5");
        c.set("steps_max_for_lr_sched", "None").set("BoW_cumsum_gamma", "None");
        assertThat(c.stepsMaxForLrSched).isNull();
        assertThat(c.bowCumsumGamma).isNull();
    }

    @Test
    void badValuesAreRefusedByName() {
        assertRefused("diffusion_mode", "BoW_embeding", "diffusion_mode");
        assertRefused("lr_scheduler", "step", "lr_scheduler");
        assertRefused("steps_max_for_lr_sched", "0", "steps_max_for_lr_sched");
        assertRefused("weight_decay_embed", "-1", "weight_decay_embed");
        assertRefused("embed_regularizer_lambda", "-0.1", "embed_regularizer_lambda");
        assertRefused("reconst_secondary_weight", "-1", "reconst_secondary_weight");

        PlaidConfig outOfRange =
                PlaidConfig.defaults().set("diffusion_mode", "BoW_embedding").set("BoW_cumsum_gamma", "1.5");
        assertThatThrownBy(outOfRange::validate).hasMessageContaining("BoW_cumsum_gamma");
        PlaidConfig missing = PlaidConfig.defaults().set("diffusion_mode", "BoW_embedding");
        assertThatThrownBy(missing::validate).hasMessageContaining("BoW_cumsum_gamma");
        assertThatThrownBy(() -> PlaidConfig.defaults().set("BoW_cumsum_gamma", "half"))
                .hasMessageContaining("BoW_cumsum_gamma");
    }

    private static void assertRefused(String option, String value, String named) {
        PlaidConfig c = PlaidConfig.defaults().set(option, value);
        assertThatThrownBy(c::validate)
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(named);
    }
}

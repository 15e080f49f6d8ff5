package plaid.options;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;
import plaid.v1.ModelShape;
import plaid.v1.Optimization;
import plaid.v1.Reporting;
import plaid.v1.TrainingSpec;

class SpecOptionsTest {

    @Test
    void theForksFieldsBecomeItsOptions() {
        TrainingSpec spec = TrainingSpec.newBuilder().setSeed(7)
                .setShape(ModelShape.newBuilder().setDiffusionMode("BoW_embedding_reconst_first_pred_x0").setBowCumsumGamma(0.5).setSelfConditioning(false))
                .setOptimization(Optimization.newBuilder().setLrScheduler("cosine").setReconstSecondaryWeight(0.31).setStepsMaxForLrSched(500)
                        .setWeightDecayEmbed(0.01).setEmbedRegularizerLambda(0.1))
                .setReporting(Reporting.newBuilder().setWandbRunName("run-a").setModelSavePath("saves/a").setDebug(true).setKeepCheckpoints(1))
                .build();
        PlaidConfig config = SpecOptions.config(spec);
        assertThat(config.seed).isEqualTo(7);
        assertThat(config.diffusionMode).isEqualTo("BoW_embedding_reconst_first_pred_x0");
        assertThat(config.bowCumsumGamma).isEqualTo(0.5);
        assertThat(config.selfcond).isFalse();
        assertThat(config.lrScheduler).isEqualTo("cosine");
        assertThat(config.reconstSecondaryWeight).isEqualTo(0.31);
        assertThat(config.stepsMaxForLrSched).isEqualTo(500);
        assertThat(config.weightDecayEmbed).isEqualTo(0.01);
        assertThat(config.embedRegularizerLambda).isEqualTo(0.1);
        assertThat(config.wandbRunName).isEqualTo("run-a");
        assertThat(config.modelSavePath).isEqualTo("saves/a");
        assertThat(config.debug).isTrue();
        assertThat(SpecOptions.config(TrainingSpec.getDefaultInstance()).bowCumsumGamma).as("unset is not 0").isNull();
    }

    @Test
    void refusalsNameTheOptionAndTheField() {
        TrainingSpec badMode = TrainingSpec.newBuilder().setShape(ModelShape.newBuilder().setDiffusionMode("BoW_embeding")).build();
        assertThatThrownBy(() -> SpecOptions.config(badMode)).isInstanceOfSatisfying(SpecOptions.Refusal.class, r -> {
            assertThat(r.option()).isEqualTo("diffusion_mode");
            assertThat(r.field()).isEqualTo("spec.shape.diffusion_mode");
            assertThat(r.problem()).contains("unknown word 'BoW_embeding'").contains("Valid words").contains("double_logit_reg");
        });
        TrainingSpec noGamma = TrainingSpec.newBuilder().setShape(ModelShape.newBuilder().setDiffusionMode("BoW_embedding")).build();
        assertThatThrownBy(() -> SpecOptions.config(noGamma)).isInstanceOfSatisfying(SpecOptions.Refusal.class, r -> {
            assertThat(r.option()).isEqualTo("BoW_cumsum_gamma");
            assertThat(r.field()).isEqualTo("spec.shape.bow_cumsum_gamma");
        });
        TrainingSpec badScheduler = TrainingSpec.newBuilder().setOptimization(Optimization.newBuilder().setLrScheduler("step")).build();
        assertThatThrownBy(() -> SpecOptions.config(badScheduler)).isInstanceOfSatisfying(SpecOptions.Refusal.class,
                r -> assertThat(r.getMessage()).isEqualTo("spec.optimization.lr_scheduler must be linear or cosine, got step"));
    }

    @Test
    void anOptionWithoutAFieldFallsBackToTheGivenOne() {
        PlaidConfig config = PlaidConfig.defaults().set("n_heads", "5");
        assertThatThrownBy(() -> SpecOptions.validate(config, Map.of(), "checkpoint")).isInstanceOfSatisfying(SpecOptions.Refusal.class, r -> {
            assertThat(r.field()).isEqualTo("checkpoint");
            assertThat(r.problem()).startsWith("option n_heads ");
        });
    }
}

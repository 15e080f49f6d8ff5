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
        TrainingSpec spec = TrainingSpec.newBuilder()
                .setSeed(7)
                .setShape(ModelShape.newBuilder()
                        .setDiffusionMode("BoW_embedding_reconst_first_pred_x0")
                        .setBowCumsumGamma(0.5)
                        .setSelfConditioning(false))
                .setOptimization(Optimization.newBuilder()
                        .setLrScheduler("cosine")
                        .setReconstSecondaryWeight(0.31)
                        .setStepsMaxForLrSched(500)
                        .setWeightDecayEmbed(0.01)
                        .setEmbedRegularizerLambda(0.1))
                .setReporting(Reporting.newBuilder()
                        .setWandbRunName("run-a")
                        .setModelSavePath("saves/a")
                        .setDebug(true)
                        .setKeepCheckpoints(1))
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
        assertThat(SpecOptions.config(TrainingSpec.getDefaultInstance()).bowCumsumGamma)
                .as("unset is not 0")
                .isNull();
    }

    @Test
    void refusalsNameTheOptionAndTheField() {
        TrainingSpec badMode = TrainingSpec.newBuilder()
                .setShape(ModelShape.newBuilder().setDiffusionMode("BoW_embeding"))
                .build();
        assertThatThrownBy(() -> SpecOptions.config(badMode)).isInstanceOfSatisfying(SpecOptions.Refusal.class, r -> {
            assertThat(r.option()).isEqualTo("diffusion_mode");
            assertThat(r.field()).isEqualTo("spec.shape.diffusion_mode");
            assertThat(r.problem())
                    .contains("unknown word 'BoW_embeding'")
                    .contains("Valid words")
                    .contains("double_logit_reg");
        });
        TrainingSpec noGamma = TrainingSpec.newBuilder()
                .setShape(ModelShape.newBuilder().setDiffusionMode("BoW_embedding"))
                .build();
        assertThatThrownBy(() -> SpecOptions.config(noGamma)).isInstanceOfSatisfying(SpecOptions.Refusal.class, r -> {
            assertThat(r.option()).isEqualTo("BoW_cumsum_gamma");
            assertThat(r.field()).isEqualTo("spec.shape.bow_cumsum_gamma");
        });
        TrainingSpec badScheduler = TrainingSpec.newBuilder()
                .setOptimization(Optimization.newBuilder().setLrScheduler("step"))
                .build();
        assertThatThrownBy(() -> SpecOptions.config(badScheduler))
                .isInstanceOfSatisfying(
                        SpecOptions.Refusal.class,
                        r -> assertThat(r.getMessage())
                                .isEqualTo("spec.optimization.lr_scheduler must be linear or cosine, got step"));
    }

    @Test
    void anOptionWithoutAFieldFallsBackToTheGivenOne() {
        PlaidConfig config = PlaidConfig.defaults().set("n_heads", "5");
        assertThatThrownBy(() -> SpecOptions.validate(config, Map.of(), "checkpoint"))
                .isInstanceOfSatisfying(SpecOptions.Refusal.class, r -> {
                    assertThat(r.field()).isEqualTo("checkpoint");
                    assertThat(r.problem()).startsWith("option n_heads ");
                });
    }

    @Test
    void flagsSetTheFieldThatCarriesThemByEitherSpelling() {
        ModelShape.Builder shape = ModelShape.newBuilder();
        Optimization.Builder optimization = Optimization.newBuilder();
        java.util.List<com.google.protobuf.Message.Builder> messages = java.util.List.of(shape, optimization);
        SpecOptions.setFlag(messages, "beta1", "0.5");
        SpecOptions.setFlag(messages, "beta_2", "0.75");
        SpecOptions.setFlag(messages, "selfcond", "False");
        SpecOptions.setFlag(messages, "BoW_cumsum_gamma", "0.25");
        SpecOptions.setFlag(messages, "lr", "3e-4");
        assertThat(optimization.getBeta1()).isEqualTo(0.5);
        assertThat(optimization.getBeta2()).isEqualTo(0.75);
        assertThat(optimization.getLr()).isEqualTo(3e-4);
        assertThat(shape.hasSelfConditioning()).isTrue();
        assertThat(shape.getSelfConditioning()).isFalse();
        assertThat(shape.getBowCumsumGamma()).isEqualTo(0.25);
        assertThatThrownBy(() -> SpecOptions.setFlag(messages, "print_freq", "5"))
                .isInstanceOfSatisfying(
                        OptionRefusal.class, r -> assertThat(r.option()).isEqualTo("print_freq"));
        assertThatThrownBy(() -> SpecOptions.setFlag(messages, "dim", "wide"))
                .hasMessage("option dim 'wide' is not a valid int");
    }

    @Test
    void outOfRangeFieldsAreRefusedNamingTheField() {
        TrainingSpec nan = TrainingSpec.newBuilder()
                .setOptimization(Optimization.newBuilder().setLr(Double.NaN))
                .build();
        assertThatThrownBy(() -> SpecOptions.config(nan)).hasMessage("spec.optimization.lr must be a number, got NaN");
        TrainingSpec beta = TrainingSpec.newBuilder()
                .setOptimization(Optimization.newBuilder().setBeta1(1.5))
                .build();
        assertThatThrownBy(() -> SpecOptions.config(beta)).isInstanceOfSatisfying(SpecOptions.Refusal.class, r -> {
            assertThat(r.option()).isEqualTo("beta1");
            assertThat(r.field()).isEqualTo("spec.optimization.beta_1");
            assertThat(r.problem()).isEqualTo("must be in [0, 1), got 1.5");
        });
        TrainingSpec valBatch = TrainingSpec.newBuilder()
                .setReporting(Reporting.newBuilder().setValBatchSize(0))
                .build();
        assertThatThrownBy(() -> SpecOptions.config(valBatch))
                .hasMessage("spec.reporting.val_batch_size must be at least 1, got 0");
        TrainingSpec accum = TrainingSpec.newBuilder()
                .setOptimization(Optimization.newBuilder().setBatchSize(10).setGradAccumSteps(4))
                .build();
        assertThatThrownBy(() -> SpecOptions.config(accum))
                .hasMessage("spec.optimization.grad_accum_steps must divide batch_size 10, got 4");
        assertThat(SpecOptions.config(TrainingSpec.newBuilder()
                                .setOptimization(Optimization.newBuilder().setLr(0.1 + 0.2))
                                .build())
                        .lr)
                .as("the field's double, as it is")
                .isEqualTo(0.1 + 0.2);
    }

    @Test
    void theServicesOwnFieldsAreTakenAsFlagsWithTheTablesParsing() {
        Reporting.Builder reporting = Reporting.newBuilder();
        SpecOptions.setFlag(java.util.List.of(reporting), "checkpoint_freq", "20");
        SpecOptions.setFlag(java.util.List.of(reporting), "keep_checkpoints", "1");
        assertThat(reporting.getCheckpointFreq()).isEqualTo(20);
        assertThat(reporting.getKeepCheckpoints()).isEqualTo(1);
        assertThatThrownBy(() -> SpecOptions.setFlag(java.util.List.of(reporting), "checkpoint_freq", "often"))
                .isInstanceOfSatisfying(
                        OptionRefusal.class, e -> assertThat(e.getMessage()).contains("checkpoint_freq"));
    }
}

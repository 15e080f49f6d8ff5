package plaid.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;
import plaid.backend.cpu.CpuBackend;
import plaid.options.PlaidConfig;

class OptimizerTest {

    private static Optimizer optimizer(PlaidConfig c) {
        return new Optimizer(c, PlaidParameters.initialize(c.validate(), new CpuBackend(), 1), 0);
    }

    private static PlaidConfig schedule(String scheduler) {
        PlaidConfig c = TrainerTest.tinyConfig();
        c.steps = 1100;
        c.lrWarmupSteps = 100;
        c.lrScheduler = scheduler;
        return c;
    }

    @Test
    void aNonFiniteGradientChangesNothing() {
        PlaidConfig c = TrainerTest.tinyConfig().validate();
        PlaidParameters params = PlaidParameters.initialize(c, new CpuBackend(), 1);
        Optimizer o = new Optimizer(c, params, 0);
        for (Parameter p : params.all())
            params.backend().upload(new float[(int) p.value().numel()], p.grad());
        o.step(20); // a finite step first, so that the moments are not all zero
        Optimizer.State before = o.state();
        var weights = params.snapshotValues();
        Parameter p = params.all().getFirst();
        float[] grad = new float[(int) p.value().numel()];
        grad[0] = Float.POSITIVE_INFINITY;
        params.backend().upload(grad, p.grad());

        assertThatThrownBy(() -> o.step(21))
                .isInstanceOf(TrainingDivergedException.class)
                .hasMessageContaining("grad_norm");
        assertThat(params.snapshotValues()).containsExactlyElementsOf(weights);
        assertThat(o.state().firstMoments()).containsExactlyElementsOf(before.firstMoments());
        assertThat(o.state().previousGradNorms()).containsExactly(before.previousGradNorms());
    }

    @Test
    void linearScheduleIsTheOriginals() {
        Optimizer o = optimizer(schedule("linear"));
        assertThat(o.lrFactor(5)).isZero();
        assertThat(o.lrFactor(50)).isEqualTo(0.5);
        assertThat(o.lrFactor(600)).isCloseTo(0.5, within(1e-9));
        assertThat(o.lrFactor(1100)).isCloseTo(0.0, within(1e-9));
    }

    @Test
    void cosineScheduleFollowsHalfCosineAfterWarmUp() {
        Optimizer o = optimizer(schedule("cosine"));
        assertThat(o.lrFactor(5)).isZero();
        assertThat(o.lrFactor(50)).isEqualTo(0.5); // warm-up unchanged
        assertThat(o.lrFactor(100)).isCloseTo(1.0, within(1e-9));
        assertThat(o.lrFactor(350)).isCloseTo(0.5 * (1 + Math.cos(Math.PI / 4)), within(1e-9));
        assertThat(o.lrFactor(600)).isCloseTo(0.5, within(1e-9));
        assertThat(o.lrFactor(1100)).isCloseTo(0.0, within(1e-9));
    }

    @Test
    void stepsMaxForLrSchedStretchesTheSchedule() {
        PlaidConfig c = schedule("cosine");
        c.stepsMaxForLrSched = 2100;
        Optimizer o = optimizer(c);
        assertThat(o.lrFactor(1100)).isCloseTo(0.5, within(1e-9));
        assertThat(o.lrFactor(2100)).isCloseTo(0.0, within(1e-9));
    }

    @Test
    void weightDecayEmbedReachesTheEmbeddingGroupOnly() {
        PlaidConfig c = schedule("linear");
        c.weightDecayEmbed = 0.01;
        assertThat(ParameterGroup.EMBEDDING_MATRIX.weightDecay(c)).isEqualTo(0.01);
        assertThat(ParameterGroup.MODEL.weightDecay(c)).isEqualTo(c.weightDecay);
        assertThat(ParameterGroup.NOISE_SCHEDULE.weightDecay(c)).isZero();
    }
}

package plaid.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
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

    /**
     * The one many-parameter AdamW call gives every parameter exactly what the per-parameter op gave it before:
     * lr = base·f with µP's 1/width_mult for matrices, and train.py's decay lr·wd/(base + 1e-16) per group.
     */
    @Test
    void aStepMovesEveryParameterExactlyAsThePerParameterUpdateAtItsGroupsRateAndDecay() {
        PlaidConfig c = schedule("linear");
        c.weightDecay = 0.1;
        c.weightDecayEmbed = 0.01;
        c.validate();
        PlaidParameters params = PlaidParameters.initialize(c, new CpuBackend(), 1);
        PlaidParameters reference = PlaidParameters.initialize(c, new CpuBackend(), 1);
        ComputeBackend be = reference.backend();
        SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < params.all().size(); i++) {
            float[] g = new float[(int) params.all().get(i).value().numel()];
            for (int k = 0; k < g.length; k++) g[k] = (float) (0.01 * random.nextGaussian());
            params.backend().upload(g, params.all().get(i).grad());
            be.upload(g, reference.all().get(i).grad());
        }
        Optimizer o = new Optimizer(c, params, 0);
        int step = 50; // past the zero-rate steps, halfway through the warm-up
        o.step(step);

        double f = o.lrFactor(step);
        assertThat(f).isEqualTo(0.5);
        List<Parameter> all = reference.all();
        boolean decayed = false;
        for (int i = 0; i < all.size(); i++) {
            Parameter p = all.get(i);
            Tensor m = be.allocate(p.shape()), v = be.allocate(p.shape());
            double base = o.baseLearningRate(p), lr = base * f;
            double decay = lr * (p.group().weightDecay(c) / (base + 1e-16));
            decayed |= decay > 0;
            be.adamW(p.value(), p.grad(), m, v, (float) lr, (float) c.beta1, (float) c.beta2, 1e-8f, (float) decay, 1);
        }
        assertThat(decayed).as("some group decays").isTrue();
        List<float[]> got = params.snapshotValues(), expected = reference.snapshotValues();
        for (int i = 0; i < all.size(); i++)
            assertThat(got.get(i)).as(all.get(i).name()).isEqualTo(expected.get(i));
        List<float[]> initial =
                PlaidParameters.initialize(c, new CpuBackend(), 1).snapshotValues();
        for (int i = 0; i < all.size(); i++)
            if (all.get(i).group().learningRate(c) > 0)
                assertThat(got.get(i)).as("%s moved", all.get(i).name()).isNotEqualTo(initial.get(i));
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

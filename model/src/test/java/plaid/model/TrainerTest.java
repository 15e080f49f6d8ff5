package plaid.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import plaid.backend.cpu.CpuBackend;
import plaid.options.PlaidConfig;

class TrainerTest {

    static PlaidConfig tinyConfig() {
        PlaidConfig c = TestModels.tinyShape();
        c.steps = 300;
        c.lrWarmupSteps = 20;
        c.biasWarmupSteps = 50;
        c.lr = 2e-3;
        return c.validate();
    }

    static Trainer.BatchSource fixedBatch(PlaidConfig c, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[] tokens = new int[c.batchSize * c.seqLen];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(c.vocabSize);
        return (rows, seqLen) -> tokens.clone();
    }

    @Test
    void lossFallsSteadilyOnAFixedBatch() {
        PlaidConfig c = tinyConfig();
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 7);
        Trainer trainer = new Trainer(c, p, new RandomSource(7), fixedBatch(c, 3), 0);
        List<Double> losses = new ArrayList<>();
        for (int step = 0; step < c.steps; step++) losses.add(trainer.step(step).loss());

        int window = 50;
        List<Double> means = new ArrayList<>();
        for (int w = 0; w + window <= losses.size(); w += window) {
            means.add(losses.subList(w, w + window).stream()
                    .mapToDouble(Double::doubleValue)
                    .average()
                    .orElseThrow());
        }
        // every 50-step window averages below the one before it, and the last is far below the first
        for (int i = 1; i < means.size(); i++)
            assertThat(means.get(i)).as("window means %s", means).isLessThan(means.get(i - 1));
        assertThat(means.getLast()).isLessThan(0.7 * means.getFirst());
    }

    @Test
    void sameSeedGivesTheSameRunAndAnotherSeedDoesNot() {
        PlaidConfig c = tinyConfig();
        double[] a = run(c, 11, 5), b = run(c, 11, 5), other = run(c, 12, 5);
        assertThat(a).containsExactly(b);
        assertThat(a).isNotEqualTo(other);
    }

    @Test
    void aDivergingRunStopsAtTheFirstNonFiniteTermWithItsWeightsFinite() {
        // the reproduction: lr=1e3 takes the loss to NaN within a few dozen steps
        PlaidConfig c = tinyConfig();
        c.lr = 1e3;
        c.lrWarmupSteps = 0;
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 5);
        Trainer trainer = new Trainer(c, p, new RandomSource(5), fixedBatch(c, 3), 0);
        TrainingDivergedException diverged = catchThrowableOfType(TrainingDivergedException.class, () -> {
            for (int step = 0; step < c.steps; step++) trainer.step(step);
        });
        assertThat(diverged).as("a run at lr=1e3 must diverge").isNotNull();
        assertThat(diverged.step()).isGreaterThanOrEqualTo(10); // the first ten steps have a zero learning rate
        assertThat(diverged.term()).isIn("gamma_0", "gamma_1", "reconst", "prior", "nll", "loss", "grad_norm");
        assertThat(Double.isFinite(diverged.value())).isFalse();
        assertThat(diverged.getMessage()).contains("step " + diverged.step()).contains(diverged.term());
        // the failing step changed nothing, so what a checkpoint would save now is finite
        assertThat(trainer.nonFiniteWeight()).isEmpty();
    }

    @Test
    void aNonFiniteWeightFailsTheNextStepAndIsNamed() {
        PlaidConfig c = tinyConfig();
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 5);
        Trainer trainer = new Trainer(c, p, new RandomSource(5), fixedBatch(c, 3), 0);
        trainer.step(0);
        Parameter poisoned = p.all().get(p.all().size() / 2);
        float[] values = p.backend().download(poisoned.value());
        values[0] = Float.NaN;
        p.backend().upload(values, poisoned.value());
        assertThat(trainer.nonFiniteWeight()).contains(poisoned.group().fileStem() + "." + poisoned.name());

        TrainingDivergedException diverged =
                catchThrowableOfType(TrainingDivergedException.class, () -> trainer.step(1));
        assertThat(diverged).isNotNull();
        assertThat(diverged.step()).isEqualTo(1);
    }

    private static double[] run(PlaidConfig c, long seed, int steps) {
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), seed);
        Trainer trainer = new Trainer(c, p, new RandomSource(seed), fixedBatch(c, 3), 0);
        double[] losses = new double[steps];
        for (int s = 0; s < steps; s++) losses[s] = trainer.step(s).loss();
        return losses;
    }
}

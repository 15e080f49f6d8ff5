package plaid.model.parallel;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.options.PlaidConfig;

/**
 * One data-parallel rank on the backend {@code -Dplaid.backend} names (the CPU by default; on a
 * GPU machine, {@code cuda}: the rank's collective is then NCCL with one rank) against the
 * single-device trainer on the same kind of backend: the same losses, grad norms and weights.
 * GPU kernels may sum in a different order from run to run, hence a tolerance (1e-5 relative
 * on the terms, 1e-4 absolute on the weights) rather than equality.
 */
class DataParallelParityTest {
    private static final int STEPS = 6;

    @Test
    void oneRankOverTheBackendsCollectiveMatchesTheSingleDeviceTrainer() {
        String name = System.getProperty(ComputeBackends.PROPERTY, "cpu");
        PlaidConfig c = DataParallelTrainerTest.config(2);
        try (ComputeBackend single = ComputeBackends.create(name)) {
            PlaidParameters p = PlaidParameters.initialize(c, single, 3);
            Trainer t = new Trainer(c, p, new RandomSource(5), DataParallelTrainerTest.stream(c, 9), -10);
            List<Trainer.StepMetrics> expected = new ArrayList<>();
            for (int s = 0; s < STEPS; s++) expected.add(t.step(s));
            List<float[]> expectedWeights = p.snapshotValues();

            List<ComputeBackend> ranks = ComputeBackends.createRanks(name, 1);
            try {
                PlaidParameters q = PlaidParameters.initialize(c, ranks.getFirst(), 3);
                try (var dp = new DataParallelTrainer(
                        c,
                        List.of(q),
                        ComputeBackends.collective(ranks),
                        new RandomSource(5),
                        DataParallelTrainerTest.stream(c, 9),
                        -10)) {
                    double share = 0;
                    for (int s = 0; s < STEPS; s++) {
                        DataParallelTrainer.Step step = dp.step(s);
                        var m = step.metrics();
                        var e = expected.get(s);
                        assertThat(m.reconstBs()).isEqualTo(e.reconstBs());
                        assertThat(m.loss()).isCloseTo(e.loss(), tolerance(e.loss()));
                        assertThat(m.nll()).isCloseTo(e.nll(), tolerance(e.nll()));
                        assertThat(m.gradNorm()).isCloseTo(e.gradNorm(), tolerance(e.gradNorm()));
                        share = Math.max(share, step.allReduceShare());
                    }
                    List<float[]> weights = q.snapshotValues();
                    for (int i = 0; i < weights.size(); i++)
                        for (int k = 0; k < weights.get(i).length; k++)
                            assertThat((double) weights.get(i)[k])
                                    .isCloseTo(expectedWeights.get(i)[k], org.assertj.core.data.Offset.offset(1e-4));
                    System.out.printf(
                            "one %s rank: matches the single-device trainer; all-reduce at most %.1f%% of a step%n",
                            single.name(), 100 * share);
                }
            } finally {
                for (ComputeBackend b : ranks) b.close();
            }
        }
    }

    private static org.assertj.core.data.Offset<Double> tolerance(double expected) {
        return org.assertj.core.data.Offset.offset(1e-5 * Math.max(1, Math.abs(expected)));
    }
}

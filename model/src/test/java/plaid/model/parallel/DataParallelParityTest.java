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
 * single-device trainer on the same kind of backend: the same losses, grad norms, weights and
 * validation NLL; and the rank with ZeRO-1 against it unsharded.
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
                    assertCloseWeights(q.snapshotValues(), expectedWeights);
                    // validation over the ranks: the per-batch NLL sums all-reduced in float64
                    double expectedNll = t.validationNll(DataParallelTrainerTest.stream(c, 21), 3, 2, 7);
                    double nll = dp.validationNll(DataParallelTrainerTest.stream(c, 21), 3, 2, 7, b -> {});
                    // after six steps the weights differ by the kernels' rounding: 1e-4 relative
                    assertThat(nll).isCloseTo(expectedNll, org.assertj.core.data.Offset.offset(1e-4 * expectedNll));
                    System.out.printf(
                            "one %s rank: matches the single-device trainer (validation NLL %.6f vs %.6f);"
                                    + " all-reduce at most %.1f%% of a step%n",
                            single.name(), nll, expectedNll, 100 * share);
                }
            } finally {
                for (ComputeBackend b : ranks) b.close();
            }
        }
    }

    /**
     * ZeRO-1 over one rank of the backend's collective (on a GPU: NCCL's broadcast of every
     * updated parameter and of the gathered moments) against the same rank unsharded.
     */
    @Test
    void oneShardedRankMatchesTheUnshardedRank() {
        String name = System.getProperty(ComputeBackends.PROPERTY, "cpu");
        PlaidConfig c = DataParallelTrainerTest.config(2);
        List<float[]> weights = null, moments = null;
        for (boolean zero : new boolean[] {false, true}) {
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
                    if (zero) dp.shardOptimizerState();
                    for (int s = 0; s < STEPS; s++) dp.step(s);
                    List<float[]> w = q.snapshotValues(),
                            m = dp.checkpointState().secondMoments();
                    if (!zero) {
                        weights = w;
                        moments = m;
                        continue;
                    }
                    assertCloseWeights(w, weights);
                    assertCloseWeights(m, moments);
                }
            } finally {
                for (ComputeBackend b : ranks) b.close();
            }
        }
    }

    private static void assertCloseWeights(List<float[]> actual, List<float[]> expected) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < actual.size(); i++)
            for (int k = 0; k < actual.get(i).length; k++)
                assertThat((double) actual.get(i)[k])
                        .isCloseTo(expected.get(i)[k], org.assertj.core.data.Offset.offset(1e-4));
    }

    private static org.assertj.core.data.Offset<Double> tolerance(double expected) {
        return org.assertj.core.data.Offset.offset(1e-5 * Math.max(1, Math.abs(expected)));
    }
}

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
 * validation NLL; and the rank with ZeRO-1 against it unsharded. On a GPU the one rank's gradient
 * buckets go through NCCL's communication stream (events each way), as with several ranks. GPU kernels may sum in a
 * different order from run to run, hence a tolerance (1e-5 relative on the terms, 1e-4 absolute
 * on the weights) rather than equality.
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

            onOneRank(name, c, (dp, q) -> {
                double share = 0, exposed = 0;
                for (int s = 0; s < STEPS; s++) {
                    DataParallelTrainer.Step step = dp.step(s);
                    // on a GPU the buckets reduce on NCCL's stream, timed there: the part after the
                    // backward is a part of their span
                    assertThat(step.exposedAllReduceSeconds()[0]).isLessThanOrEqualTo(step.allReduceSeconds()[0]);
                    var m = step.metrics();
                    var e = expected.get(s);
                    assertThat(m.reconstBs()).isEqualTo(e.reconstBs());
                    assertThat(m.loss()).isCloseTo(e.loss(), tolerance(e.loss()));
                    assertThat(m.nll()).isCloseTo(e.nll(), tolerance(e.nll()));
                    assertThat(m.gradNorm()).isCloseTo(e.gradNorm(), tolerance(e.gradNorm()));
                    share = Math.max(share, step.allReduceShare());
                    exposed = Math.max(exposed, step.exposedAllReduceShare());
                }
                assertCloseValues(q.snapshotValues(), expectedWeights);
                // validation over the ranks: the per-batch NLL sums all-reduced in float64; after six
                // steps the weights differ by the kernels' rounding, hence 1e-4 relative
                double expectedNll = t.validationNll(DataParallelTrainerTest.stream(c, 21), 3, 2, 7);
                double nll = dp.validationNll(DataParallelTrainerTest.stream(c, 21), 3, 2, 7, b -> {});
                assertThat(nll).isCloseTo(expectedNll, org.assertj.core.data.Offset.offset(1e-4 * expectedNll));
                System.out.printf(
                        "one %s rank: matches the single-device trainer (validation NLL %.6f vs %.6f);"
                                + " all-reduce at most %.1f%% of a step, %.1f%% after the backward%n",
                        single.name(), nll, expectedNll, 100 * share, 100 * exposed);
            });
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
        List<List<float[]>> plain = new ArrayList<>();
        onOneRank(name, c, (dp, q) -> {
            for (int s = 0; s < STEPS; s++) dp.step(s);
            plain.add(q.snapshotValues());
            plain.add(dp.checkpointState().secondMoments());
        });
        onOneRank(name, c, (dp, q) -> {
            dp.shardOptimizerState();
            for (int s = 0; s < STEPS; s++) dp.step(s);
            assertCloseValues(q.snapshotValues(), plain.get(0));
            assertCloseValues(dp.checkpointState().secondMoments(), plain.get(1));
        });
    }

    private interface RankBody {
        void run(DataParallelTrainer dp, PlaidParameters params);
    }

    /** One rank of the backend {@code name} over its collective, seed 3's weights. */
    private static void onOneRank(String name, PlaidConfig c, RankBody body) {
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
                body.run(dp, q);
            }
        } finally {
            for (ComputeBackend b : ranks) b.close();
        }
    }

    private static void assertCloseValues(List<float[]> actual, List<float[]> expected) {
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

package plaid.model.parallel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import plaid.backend.Collective;
import plaid.backend.ComputeBackend;
import plaid.backend.InProcessCollective;
import plaid.backend.cpu.CpuBackend;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.TestModels;
import plaid.model.Trainer;
import plaid.options.PlaidConfig;

/**
 * N CPU ranks with the reference collective against one device at the same global batch.
 *
 * <p>The bound: slicing the batch changes only the order of float sums (a parameter gradient
 * sums its rows per rank, then over ranks), so the loss terms and the gradient norm agree to
 * 1e-5 relative. Adam divides each gradient by its own running RMS, which amplifies the rounding
 * of near-zero gradients (up to lr per step in the worst case); over these 8 steps at learning
 * rates ≤ 1e-2 parameters agree to 1e-4 absolute (measured: 3e-6 to 2e-5).
 */
class DataParallelTrainerTest {
    private static final int STEPS = 8;
    private static final double TERM_TOLERANCE = 1e-5;
    private static final double PARAM_TOLERANCE = 1e-4;

    /** grad accumulation, split rows, self-conditioning, a fast-moving reconst_bs, EMA and decay-to-init on. */
    static PlaidConfig config(int gradAccum) {
        PlaidConfig c = TestModels.tinyShape();
        c.gradAccumSteps = gradAccum;
        c.nShortSeqs = 2;
        c.selfcond = true;
        c.reconstBsEma = 0.5;
        c.ema = 0.9;
        c.decayToInit = 0.01;
        c.steps = 100;
        c.lrWarmupSteps = 2;
        c.lr = 3e-3;
        return c.validate();
    }

    /** A fresh batch every call, the same sequence for every run with this seed. */
    static Trainer.BatchSource stream(PlaidConfig c, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        return (rows, seqLen) -> {
            int[] tokens = new int[rows * seqLen];
            for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(c.vocabSize);
            return tokens;
        };
    }

    record Run(List<Trainer.StepMetrics> metrics, List<List<float[]>> replicas, List<float[]> ema) {}

    /** first step −10: the learning rate is not held at zero for the first ten steps. */
    static Run oneDevice(PlaidConfig c) {
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 3);
        Trainer t = new Trainer(c, p, new RandomSource(5), stream(c, 9), -10);
        List<Trainer.StepMetrics> m = new ArrayList<>();
        for (int s = 0; s < STEPS; s++) m.add(t.step(s));
        return new Run(m, List.of(p.snapshotValues()), t.optimizer().weightsForEvaluation());
    }

    static Run parallel(PlaidConfig c, int ranks) {
        List<ComputeBackend> backends = new ArrayList<>();
        List<PlaidParameters> replicas = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            CpuBackend b = new CpuBackend();
            backends.add(b);
            // Other ranks start from other weights: the broadcast must make them rank 0's.
            replicas.add(PlaidParameters.initialize(c, b, r == 0 ? 3 : 100 + r));
        }
        try (var dp = new DataParallelTrainer(
                c, replicas, InProcessCollective.group(backends), new RandomSource(5), stream(c, 9), -10)) {
            dp.broadcastFromPrimary();
            // EMA and decay-to-init snapshot the weights when the optimiser is made: rebuild after the broadcast.
            return runRebuilt(c, replicas, backends);
        }
    }

    private static Run runRebuilt(PlaidConfig c, List<PlaidParameters> replicas, List<ComputeBackend> backends) {
        // 16 KiB buckets: several per model, so the blocks' buckets start during the backward
        try (var dp = new DataParallelTrainer(
                c, replicas, InProcessCollective.group(backends), new RandomSource(5), stream(c, 9), -10, 16 << 10)) {
            List<Trainer.StepMetrics> m = new ArrayList<>();
            for (int s = 0; s < STEPS; s++) {
                DataParallelTrainer.Step step = dp.step(s);
                assertThat(step.rankSeconds()).hasSize(replicas.size());
                for (double seconds : step.rankSeconds()) assertThat(seconds).isPositive();
                assertThat(step.allReduceShare()).isBetween(0.0, 1.0);
                // the CPU collective's reductions hold the rank's thread: none of it overlaps
                assertThat(step.exposedAllReduceSeconds()).containsExactly(step.allReduceSeconds());
                assertThat(step.bucketsStartedInBackward())
                        .as("buckets reduced while the backward ran")
                        .isPositive();
                m.add(step.metrics());
            }
            return new Run(
                    m,
                    replicas.stream().map(PlaidParameters::snapshotValues).toList(),
                    dp.primary().optimizer().weightsForEvaluation());
        }
    }

    @Test
    void oneRankIsExactlyTheOneDeviceTrainer() {
        PlaidConfig c = config(2);
        Run one = oneDevice(c), dp = parallel(c, 1);
        for (int s = 0; s < STEPS; s++) {
            assertThat(dp.metrics().get(s).loss())
                    .isEqualTo(one.metrics().get(s).loss());
            assertThat(dp.metrics().get(s).gradNorm())
                    .isEqualTo(one.metrics().get(s).gradNorm());
        }
        for (int i = 0; i < one.replicas().get(0).size(); i++)
            assertThat(dp.replicas().get(0).get(i))
                    .containsExactly(one.replicas().get(0).get(i));
    }

    @Test
    void twoAndFourRanksMatchOneDeviceWithGradAccumulation() {
        PlaidConfig c = config(2);
        Run one = oneDevice(c);
        assertAdaptsReconstBs(one);
        for (int ranks : new int[] {2, 4}) assertMatches(one, parallel(c, ranks), ranks);
    }

    @Test
    void twoRanksMatchOneDeviceWithoutAccumulation() {
        PlaidConfig c = config(1);
        assertMatches(oneDevice(c), parallel(c, 2), 2);
    }

    private static void assertAdaptsReconstBs(Run one) {
        Set<Integer> reconstRows = new HashSet<>();
        for (var m : one.metrics()) reconstRows.add(m.reconstBs());
        assertThat(reconstRows).as("reconst_bs must adapt within the run").hasSizeGreaterThan(1);
    }

    private static void assertMatches(Run one, Run dp, int ranks) {
        for (int s = 0; s < STEPS; s++) {
            var a = one.metrics().get(s);
            var b = dp.metrics().get(s);
            String at = ranks + " ranks, step " + s;
            assertThat(b.reconstBs()).as(at).isEqualTo(a.reconstBs());
            assertClose(b.loss(), a.loss(), at + " loss");
            assertClose(b.nll(), a.nll(), at + " nll");
            assertClose(b.reconst(), a.reconst(), at + " reconst");
            assertClose(b.prior(), a.prior(), at + " prior");
            assertClose(b.gamma0(), a.gamma0(), at + " gamma_0");
            assertClose(b.gamma1(), a.gamma1(), at + " gamma_1");
            assertClose(b.gradNorm(), a.gradNorm(), at + " grad norm");
            assertThat(b.lrFactor()).isEqualTo(a.lrFactor());
        }
        assertThat(one.metrics().getLast().gradNorm()).isGreaterThan(0);
        double worst = 0;
        List<float[]> ref = one.replicas().get(0);
        for (int r = 0; r < ranks; r++) {
            List<float[]> rep = dp.replicas().get(r);
            for (int i = 0; i < ref.size(); i++) {
                // every rank ran the same step on the same reduced gradients: bit-identical replicas
                assertThat(rep.get(i)).containsExactly(dp.replicas().get(0).get(i));
                for (int k = 0; k < ref.get(i).length; k++)
                    worst = Math.max(worst, Math.abs(rep.get(i)[k] - ref.get(i)[k]));
            }
        }
        assertThat(worst).as(ranks + " ranks: largest parameter difference").isLessThanOrEqualTo(PARAM_TOLERANCE);
        for (int i = 0; i < one.ema().size(); i++)
            for (int k = 0; k < one.ema().get(i).length; k++)
                assertThat((double) dp.ema().get(i)[k])
                        .isCloseTo(one.ema().get(i)[k], org.assertj.core.data.Offset.offset(PARAM_TOLERANCE));
        // the weights moved: the comparison is not of two initialisations
        List<float[]> init =
                PlaidParameters.initialize(config(1), new CpuBackend(), 3).snapshotValues();
        assertThat(java.util.Arrays.equals(ref.getLast(), init.getLast())).isFalse();
        System.out.printf("%d ranks: largest parameter difference %.3g%n", ranks, worst);
    }

    private static void assertClose(double actual, double expected, String what) {
        assertThat(Math.abs(actual - expected))
                .as("%s: %s vs %s", what, actual, expected)
                .isLessThanOrEqualTo(TERM_TOLERANCE * Math.max(1, Math.abs(expected)));
    }

    @Test
    void refusesABatchTheRanksCannotSplit() {
        PlaidConfig c = config(1);
        c.batchSize = 6;
        List<ComputeBackend> backends = List.of(new CpuBackend(), new CpuBackend(), new CpuBackend(), new CpuBackend());
        List<PlaidParameters> replicas =
                backends.stream().map(b -> PlaidParameters.initialize(c, b, 1)).toList();
        List<Collective> group = InProcessCollective.group(backends);
        assertThatThrownBy(() -> new DataParallelTrainer(c, replicas, group, new RandomSource(1), stream(c, 1), 0))
                .hasMessageContaining("batch_size 6 must be divisible by the 4 devices");
    }
}

package plaid.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.cpu.CpuBackend;
import plaid.options.PlaidConfig;

/** DiffusionObjective in the fork's BoW_embedding modes, with each of the fork's heads (plaid-reference §7). */
class BowEmbeddingObjectiveTest {
    private static final int ROWS = 4, SEQ_LEN = 8;

    private static PlaidConfig bowConfig(double rho) {
        return bowConfig("BoW_embedding", rho);
    }

    private static PlaidConfig bowConfig(String mode, double rho) {
        PlaidConfig c = TrainerTest.tinyConfig();
        c.diffusionMode = mode;
        c.bowCumsumGamma = rho;
        return c.validate();
    }

    /** Initial parameters with noise on every value, so the zero-initialised readout passes gradient too. */
    private static PlaidParameters perturbedParameters(PlaidConfig c) {
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 5);
        SplittableRandom rng = new SplittableRandom(9);
        TestModels.perturb(p, rng);
        return p;
    }

    /** One micro-batch: one reconstruction row, the rest diffusion rows, self-conditioned where {@code selfcondMask} is 1. */
    private static DiffusionObjective.MicroBatch microBatch(PlaidConfig c, float[] selfcondMask) {
        SplittableRandom rng = new SplittableRandom(21);
        int[] tokens = new int[ROWS * SEQ_LEN];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(c.vocabSize);
        float[] eps = DiffusionObjective.gaussian(rng, ROWS * SEQ_LEN * c.embedDim);
        return new DiffusionObjective.MicroBatch(
                tokens,
                SEQ_LEN,
                DiffusionObjective.lowDiscrepancyTimes(ROWS, 1, 0.3),
                selfcondMask,
                eps,
                Segments.whole(ROWS, SEQ_LEN),
                1,
                1.0,
                1.0,
                1.0,
                1.0);
    }

    private static List<float[]> gradients(PlaidParameters p) {
        return p.all().stream().map(q -> p.backend().download(q.grad())).toList();
    }

    @Test
    void rhoZeroReproducesTokenModeExactly() {
        PlaidConfig token = TrainerTest.tinyConfig(), bow = bowConfig(0.0);
        float[] mask = {1f, 0f, 1f, 0f}; // self-conditioning on two rows exercises the bow-space feedback
        PlaidParameters pt = perturbedParameters(token), pb = perturbedParameters(bow);
        DiffusionObjective.Result rt = new DiffusionObjective(token, pt).evaluate(microBatch(token, mask), true);
        DiffusionObjective.Result rb = new DiffusionObjective(bow, pb).evaluate(microBatch(bow, mask), true);

        assertThat(rb.loss()).isEqualTo(rt.loss());
        assertThat(rb.nll()).isEqualTo(rt.nll());
        assertThat(rb.xSelfcond()).containsExactly(rt.xSelfcond());
        List<float[]> gt = gradients(pt), gb = gradients(pb);
        for (int i = 0; i < gt.size(); i++)
            assertThat(gb.get(i)).as(pt.all().get(i).toString()).containsExactly(gt.get(i));
    }

    /** Every head and mode word, each at ρ ∈ {0, 0.5, 0.95}. */
    static Stream<Arguments> modesAndDecays() {
        List<String> modes = List.of(
                "BoW_embedding",
                "BoW_embedding_no_rescale",
                "BoW_embedding_reconst_first",
                "BoW_embedding_reconst_first_diff_lm_norms",
                "BoW_embedding_reconst_first_pred_x0",
                "BoW_embedding_reconst_first_norm_ret_embeddings",
                "BoW_embedding_double_logit_reg",
                "BoW_embedding_double_logit_reg_logits_direct_primary",
                "BoW_embedding_double_logit_reg_direct_bow_x_to_logits",
                "BoW_embedding_pred_x0_logits_direct_primary_double_logit_reg_norm_ret_embeddings_no_rescale");
        return modes.stream().flatMap(m -> Stream.of(0.0, 0.5, 0.95).map(rho -> Arguments.of(m, rho)));
    }

    @ParameterizedTest(name = "{0} ρ={1}")
    @MethodSource("modesAndDecays")
    void gradientAgreesWithFiniteDifferencesOfTheLoss(String mode, double rho) {
        PlaidConfig c = bowConfig(mode, rho);
        c.embedRegularizerLambda = 0.01;
        c.reconstSecondaryWeight = 0.7; // double_logit_reg: the secondary logits' term must carry gradient too
        PlaidParameters p = perturbedParameters(c);
        DiffusionObjective objective = new DiffusionObjective(c, p);
        // no self-conditioned rows: that pass is detached, so finite differences would see what the gradient leaves out
        DiffusionObjective.MicroBatch mb = microBatch(c, new float[ROWS]);
        // the noise schedule's gradient minimises the loss's variance, not the loss: leave it out
        List<Parameter> probed = p.all().stream()
                .filter(q -> q.group() != ParameterGroup.NOISE_SCHEDULE)
                .toList();

        p.zeroGrads();
        objective.evaluate(mb, true);
        ComputeBackend be = p.backend();
        SplittableRandom rng = new SplittableRandom(33);
        for (int trial = 0; trial < 3; trial++) {
            List<float[]> direction = new ArrayList<>();
            double analytic = 0, magnitude = 0; // magnitude: Σ|g·v|, the scale float32 rounding errors grow with
            for (Parameter q : probed) {
                float[] g = be.download(q.grad()), v = new float[g.length];
                for (int k = 0; k < v.length; k++) {
                    v[k] = (float) rng.nextGaussian();
                    analytic += (double) g[k] * v[k];
                    magnitude += Math.abs((double) g[k] * v[k]);
                }
                direction.add(v);
            }
            double h = 3e-4; // small enough for O(h²) to vanish, large enough for float32 rounding
            double numeric = (lossAlong(objective, mb, be, probed, direction, h)
                            - lossAlong(objective, mb, be, probed, direction, -h))
                    / (2 * h);
            System.out.printf(
                    "%s ρ=%s directional derivative: analytic %.6f, central difference %.6f (Σ|g·v| %.1f)%n",
                    mode, rho, analytic, numeric, magnitude);
            assertThat(numeric).isCloseTo(analytic, within(5e-5 * magnitude));
        }
    }

    /** One mode per family the fork's experiments use; BowModesBenchmark runs them longer for docs/bow-modes.md. */
    @ParameterizedTest
    @ValueSource(
            strings = {
                "BoW_embedding",
                "BoW_embedding_reconst_first",
                "BoW_embedding_reconst_first_diff_lm_norms",
                "BoW_embedding_double_logit_reg",
                "BoW_embedding_double_logit_reg_logits_direct_primary"
            })
    void shortTrainingRunLowersValidationNll(String mode) {
        PlaidConfig c = bowConfig(mode, 0.5);
        c.steps = 150;
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 3);
        SplittableRandom data = new SplittableRandom(4);
        Trainer trainer =
                new Trainer(c, p, new RandomSource(3), (rows, seqLen) -> countingRows(data, c, rows, seqLen), 0);
        int[] validation = countingRows(new SplittableRandom(99), c, c.batchSize, c.seqLen);

        double before = validationNll(trainer.objective(), c, validation);
        for (int step = 0; step < c.steps; step++) trainer.step(step);
        double after = validationNll(trainer.objective(), c, validation);
        System.out.printf("%s ρ=0.5, %d steps: validation NLL %.3f -> %.3f%n", mode, c.steps, before, after);
        assertThat(after).isLessThan(0.95 * before);
    }

    /** Rows counting up from a random token: structure a tiny model can learn in a few steps. */
    static int[] countingRows(SplittableRandom rng, PlaidConfig c, int rows, int seqLen) {
        int[] tokens = new int[rows * seqLen];
        for (int r = 0; r < rows; r++) {
            int start = rng.nextInt(c.vocabSize);
            for (int n = 0; n < seqLen; n++) tokens[r * seqLen + n] = (start + n) % c.vocabSize;
        }
        return tokens;
    }

    /** Mean eval-mode NLL over a fixed set of draws, so two calls differ only by the weights. */
    static double validationNll(DiffusionObjective objective, PlaidConfig c, int[] tokens) {
        SplittableRandom rng = new SplittableRandom(7);
        int draws = 8;
        double sum = 0;
        for (int i = 0; i < draws; i++) {
            sum += objective
                    .evaluate(DiffusionObjective.evalMicroBatch(tokens, c.batchSize, c.seqLen, c.embedDim, rng), false)
                    .nll();
        }
        return sum / draws;
    }

    @Test
    void reconstFirstReadsOutToTheEmbeddingAndRefusesTokenModeWeights() {
        PlaidConfig reconstFirst = bowConfig("BoW_embedding_reconst_first", 0.5), token = TrainerTest.tinyConfig();
        PlaidParameters p = PlaidParameters.initialize(reconstFirst, new CpuBackend(), 1);
        assertThat(p.model("output_linear.weight").shape()).containsExactly(reconstFirst.embedDim, reconstFirst.dim);
        assertThat(p.model("output_linear.bias").shape()).containsExactly(reconstFirst.embedDim);

        var tokenWeights =
                PlaidParameters.initialize(token, new CpuBackend(), 1).toStateDicts();
        assertThatThrownBy(() -> PlaidParameters.fromStateDicts(reconstFirst, new CpuBackend(), tokenWeights))
                .hasMessageContaining("output_linear.weight");
    }

    @Test
    void doubleLogitRegBuildsTwoReadoutsWithNormsOfTheirOwn() {
        PlaidConfig c = bowConfig("BoW_embedding_double_logit_reg", 0.5);
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 1);
        assertThat(p.model("output_linear_logits.weight").shape()).containsExactly(c.vocabSize, c.dim);
        assertThat(p.model("output_linear_embed.weight").shape()).containsExactly(c.embedDim, c.dim);
        assertThat(p.backend().download(p.model("output_norm_embed.weight").value()))
                .containsOnly(1f);
        assertThat(p.backend().download(p.model("output_linear_logits.bias").value()))
                .containsOnly(0f);
        assertThat(p.all())
                .noneMatch(
                        q -> q.name().equals("output_linear.weight") || q.name().equals("output_norm.weight"));
    }

    @Test
    void secondaryWeightAddsTheSecondaryLogitsCrossEntropyToTheLossButNotToTheNll() {
        PlaidConfig c = bowConfig("BoW_embedding_double_logit_reg", 0.5);
        PlaidParameters p = perturbedParameters(c);
        DiffusionObjective.MicroBatch mb = microBatch(c, new float[ROWS]);
        c.reconstSecondaryWeight = 0;
        DiffusionObjective.Result without = new DiffusionObjective(c, p).evaluate(mb, false);
        c.reconstSecondaryWeight = 0.31;
        DiffusionObjective.Result with = new DiffusionObjective(c, p).evaluate(mb, false);
        assertThat(with.secondaryReconstTerm()).isGreaterThan(0).isNotCloseTo(with.reconstTerm(), within(1e-3));
        assertThat(with.loss() - without.loss()).isCloseTo(0.31 * with.secondaryReconstTerm(), within(1e-9));
        assertThat(with.nll()).isEqualTo(without.nll());
    }

    @Test
    void rhoOfOneNeedsNoRescale() {
        assertThatThrownBy(() -> bowConfig("BoW_embedding", 1.0))
                .hasMessageContaining("no_rescale")
                .hasMessageContaining("BoW_cumsum_gamma");
        assertThat(bowConfig("BoW_embedding_no_rescale", 1.0).bowTransform().scale())
                .isEqualTo(1.0);
        assertThat(bowConfig("BoW_embedding", 0.25).bowTransform().scale()).isEqualTo(0.75);
    }

    /** The loss at θ + step·v, θ restored afterwards. */
    private static double lossAlong(
            DiffusionObjective objective,
            DiffusionObjective.MicroBatch mb,
            ComputeBackend be,
            List<Parameter> probed,
            List<float[]> direction,
            double step) {
        List<float[]> saved = probed.stream().map(q -> be.download(q.value())).toList();
        for (int i = 0; i < probed.size(); i++) {
            float[] v = saved.get(i).clone(), d = direction.get(i);
            for (int k = 0; k < v.length; k++) v[k] += (float) (step * d[k]);
            be.upload(v, probed.get(i).value());
        }
        double loss = objective.evaluate(mb, false).loss();
        for (int i = 0; i < probed.size(); i++)
            be.upload(saved.get(i), probed.get(i).value());
        return loss;
    }
}

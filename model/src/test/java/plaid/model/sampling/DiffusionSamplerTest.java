package plaid.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;
import plaid.options.bow.DiffusionMode;

class DiffusionSamplerTest {
    private static final int VOCAB = 40;
    private static final SamplingRequest SMALL =
            SamplingRequest.defaults(8).withSamples(3).withSteps(10);

    @Test
    void theSameSeedGivesTheSameSamples() {
        DiffusionSampler sampler = new DiffusionSampler(TinyModel.config(VOCAB), TinyModel.randomised(VOCAB, 1), 8);
        for (SamplingRequest.Update update : SamplingRequest.Update.values()) {
            SamplingRequest r = SMALL.withUpdate(update);
            int[][] a = sampler.sample(r, NoiseSource.seeded(7));
            assertThat(sampler.sample(r, NoiseSource.seeded(7))).isDeepEqualTo(a);
            assertThat(java.util.Arrays.deepEquals(sampler.sample(r, NoiseSource.seeded(8)), a))
                    .as(update.name())
                    .isFalse();
            assertThat(java.util.Arrays.stream(a).flatMapToInt(java.util.Arrays::stream))
                    .hasSize(3 * 8)
                    .allMatch(t -> t >= 0 && t < VOCAB);
        }
    }

    @Test
    void bowEmbeddingWithRhoZeroSamplesAsTokenModeDoes() {
        for (SamplingRequest.Update update : SamplingRequest.Update.values()) {
            SamplingRequest r = SMALL.withUpdate(update);
            int[][] token = new DiffusionSampler(TinyModel.config(VOCAB), TinyModel.randomised(VOCAB, 1), 8)
                    .sample(r, NoiseSource.seeded(7));
            PlaidConfig bowConfig = config("BoW_embedding", 0.0);
            int[][] bow = new DiffusionSampler(bowConfig, inMode(TinyModel.randomised(VOCAB, 1), bowConfig), 8)
                    .sample(r, NoiseSource.seeded(7));
            assertThat(bow).as(update.name()).isDeepEqualTo(token);
        }
    }

    @Test
    void bowModesSampleValidTokens() {
        for (String mode : new String[] {
            "BoW_embedding",
            "BoW_embedding_reconst_first_diff_lm_norms",
            "BoW_embedding_double_logit_reg_norm_ret_embeddings"
        }) {
            PlaidConfig c = config(mode, 0.5);
            PlaidParameters p = inMode(TinyModel.initialised(VOCAB, 1), c);
            int[][] a = new DiffusionSampler(c, p, 8).sample(SMALL, NoiseSource.seeded(7));
            assertThat(java.util.Arrays.stream(a).flatMapToInt(java.util.Arrays::stream))
                    .as(mode)
                    .hasSize(3 * 8)
                    .allMatch(t -> t >= 0 && t < VOCAB);
        }
    }

    @Test
    void useSecondaryLogitsSwapsWhichHeadGuidanceAndTheArgmaxRead() {
        // the two primaries have the same parameters: reading the secondary logits of one is reading the primary of the
        // other
        PlaidParameters embedPrimary = doubleLogitModel("BoW_embedding_double_logit_reg");
        PlaidConfig embedConfig = config("BoW_embedding_double_logit_reg");
        PlaidConfig directConfig = config("BoW_embedding_double_logit_reg_logits_direct_primary");
        PlaidParameters directPrimary =
                PlaidParameters.fromStateDicts(directConfig, embedPrimary.backend(), embedPrimary.toStateDicts());
        SamplingRequest guided = SMALL.withGuidance(List.of(GuidanceTerm.at(5, 3.0, 0), GuidanceTerm.at(9, 3.0, 1)));

        int[][] secondary = new DiffusionSampler(embedConfig, embedPrimary, 8)
                .sample(guided.withSecondaryLogits(true), NoiseSource.seeded(4));
        int[][] primary = new DiffusionSampler(embedConfig, embedPrimary, 8).sample(guided, NoiseSource.seeded(4));
        assertThat(secondary)
                .isDeepEqualTo(
                        new DiffusionSampler(directConfig, directPrimary, 8).sample(guided, NoiseSource.seeded(4)));
        assertThat(java.util.Arrays.deepEquals(secondary, primary)).isFalse();

        assertThatThrownBy(() -> new DiffusionSampler(TinyModel.config(VOCAB), TinyModel.randomised(VOCAB, 1), 8)
                        .sample(SMALL.withSecondaryLogits(true), NoiseSource.seeded(0)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("use_secondary_logits")
                .hasMessageContaining("double_logit_reg");
    }

    private static PlaidConfig config(String mode) {
        return config(mode, 0.5);
    }

    private static PlaidConfig config(String mode, double rho) {
        PlaidConfig c = TinyModel.config(VOCAB);
        c.diffusionMode = mode;
        c.bowCumsumGamma = rho;
        return c.validate();
    }

    /** A double_logit_reg model with every parameter randomised, both readouts included. */
    private static PlaidParameters doubleLogitModel(String mode) {
        PlaidParameters p = PlaidParameters.initialize(config(mode), new plaid.backend.cpu.CpuBackend(), 2);
        java.util.SplittableRandom rng = new java.util.SplittableRandom(3);
        for (var q : p.all()) {
            if (q.group() != plaid.model.ParameterGroup.MODEL) continue;
            float[] v = p.backend().download(q.value());
            for (int k = 0; k < v.length; k++) v[k] += (float) (0.1 * rng.nextGaussian());
            p.backend().upload(v, q.value());
        }
        return p;
    }

    /** The same weights under options {@code c} (only the readout's shape differs between modes: re-initialised there). */
    private static PlaidParameters inMode(PlaidParameters p, PlaidConfig c) {
        if (c.diffusionMode().contains(DiffusionMode.Word.RECONST_FIRST)
                || c.diffusionMode().contains(DiffusionMode.Word.DOUBLE_LOGIT_REG))
            return PlaidParameters.initialize(c, p.backend(), 1);
        return PlaidParameters.fromStateDicts(c, p.backend(), p.toStateDicts());
    }

    @Test
    void partialDecodesArriveEveryKSteps() {
        DiffusionSampler sampler = new DiffusionSampler(TinyModel.config(VOCAB), TinyModel.randomised(VOCAB, 1), 8);
        List<Integer> steps = new ArrayList<>();
        List<int[][]> decodes = new ArrayList<>();
        sampler.sample(SMALL, NoiseSource.seeded(1), 3, (step, tokens) -> {
            steps.add(step);
            decodes.add(tokens);
        });
        assertThat(steps).containsExactly(3, 6, 9);
        assertThat(decodes).allSatisfy(d -> assertThat(d).hasDimensions(3, 8));
    }

    @Test
    void stepTimesAreTorchLinspaceWithExactEnds() {
        double[] t = DiffusionSampler.torchLinspace(1.0, 0.0, 12);
        assertThat(t[0]).isEqualTo(1.0);
        assertThat(t[11]).isEqualTo(0.0);
        for (int i = 0; i < 12; i++)
            assertThat(t[i]).isCloseTo(1 - i / 11.0, org.assertj.core.data.Offset.offset(1e-15));
        assertThat(DiffusionSampler.torchLinspace(1.0, 0.0, 1)).containsExactly(1.0);
    }

    @Test
    void rejectsRequestsNamingTheField() {
        assertThatThrownBy(() -> SMALL.withSteps(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("sampling_timesteps");
        assertThatThrownBy(() -> SMALL.withScoreTemp(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("score_temp");
        assertThatThrownBy(() -> SMALL.withSamples(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("n_samples");
        assertThatThrownBy(() -> SMALL.withInitialNoiseScale(-1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("initial_noise_scale");
        assertThatThrownBy(() -> SMALL.withGuidance(List.of(GuidanceTerm.at(1, 2.0, 8))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("guidance[0].position");
        assertThatThrownBy(() -> Guidance.infill(new int[] {1}, new int[] {2}, -1, 2.0))
                .hasMessageContaining("gap");

        DiffusionSampler sampler = new DiffusionSampler(TinyModel.config(VOCAB), TinyModel.initialised(VOCAB, 1), 8);
        assertThatThrownBy(() -> sampler.sample(
                        SMALL.withGuidance(List.of(GuidanceTerm.at(3, 2.0, 0), GuidanceTerm.anywhere(VOCAB, 1.0))),
                        NoiseSource.seeded(0)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("guidance[1].token");
        assertThatThrownBy(() -> sampler.sample(SamplingRequest.defaults(9).withSteps(2), NoiseSource.seeded(0)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("seq_len");
        assertThatThrownBy(() -> sampler.sample(SMALL, NoiseSource.seeded(0), 0, (step, tokens) -> {}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("decodeEvery");
    }
}

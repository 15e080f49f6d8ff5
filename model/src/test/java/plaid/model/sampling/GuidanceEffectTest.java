package plaid.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import plaid.model.PlaidParameters;

/**
 * Guidance steers a tiny model measurably. With the original's initialisation the
 * denoiser's logits are the z·Ê bias alone, so without guidance every token is about
 * equally likely; guidance terms must move the samples where they point.
 */
class GuidanceEffectTest {
    private static final int VOCAB = 64;
    private static final SamplingRequest BASE =
            SamplingRequest.defaults(16).withSamples(16).withSteps(32);

    @Test
    void prefixGuidancePutsThePrefixAtItsPositions() {
        DiffusionSampler sampler = new DiffusionSampler(TinyModel.config(VOCAB), TinyModel.initialised(VOCAB, 1), 64);
        int[] prefix = {5, 17, 42, 9};
        double unguided = prefixRate(sampler.sample(BASE, NoiseSource.seeded(2)), prefix);
        double guided = prefixRate(
                sampler.sample(BASE.withGuidance(Guidance.prefix(prefix, 2.0)), NoiseSource.seeded(2)), prefix);
        System.out.printf("prefix tokens at their positions: unguided %.3f, guided %.3f%n", unguided, guided);
        assertThat(guided).isGreaterThan(0.5).isGreaterThan(5 * unguided);
    }

    @Test
    void infillingPlacesTheSuffixAfterTheGap() {
        DiffusionSampler sampler = new DiffusionSampler(TinyModel.config(VOCAB), TinyModel.initialised(VOCAB, 1), 64);
        int[] prefix = {3, 4}, suffix = {50, 51};
        int[][] samples =
                sampler.sample(BASE.withGuidance(Guidance.infill(prefix, suffix, 5, 2.0)), NoiseSource.seeded(3));
        int hits = 0;
        for (int[] s : samples) hits += (s[7] == 50 ? 1 : 0) + (s[8] == 51 ? 1 : 0);
        assertThat((double) hits / (2 * samples.length)).isGreaterThan(0.5);
    }

    @Test
    void negationLowersTheNegatedTokensFrequency() {
        PlaidParameters params = TinyModel.initialised(VOCAB, 1);
        int token = 7;
        // a logit bias makes the token common without guidance, so its drop is measurable
        float[] bias = new float[VOCAB];
        bias[token] = 3f;
        params.backend().upload(bias, params.model("output_linear.bias").value());
        DiffusionSampler sampler = new DiffusionSampler(TinyModel.config(VOCAB), params, 64);
        double unguided = frequency(sampler.sample(BASE, NoiseSource.seeded(4)), token);
        double negated = frequency(
                sampler.sample(BASE.withGuidance(Guidance.excluding(token, 10.0)), NoiseSource.seeded(4)), token);
        System.out.printf("negated token frequency: unguided %.3f, negated %.3f%n", unguided, negated);
        assertThat(unguided).isGreaterThan(0.1);
        assertThat(negated).isLessThan(unguided / 3);
    }

    @Test
    void lexicalConstraintMakesTheTokenAppearSomewhere() {
        DiffusionSampler sampler = new DiffusionSampler(TinyModel.config(VOCAB), TinyModel.initialised(VOCAB, 1), 64);
        int token = 33;
        double unguided = containingRate(sampler.sample(BASE, NoiseSource.seeded(5)), token);
        double guided = containingRate(
                sampler.sample(BASE.withGuidance(Guidance.containing(token, 3.0)), NoiseSource.seeded(5)), token);
        System.out.printf("samples containing the token: unguided %.3f, guided %.3f%n", unguided, guided);
        assertThat(guided).isGreaterThan(unguided).isGreaterThan(0.5);
    }

    private static double prefixRate(int[][] samples, int[] prefix) {
        int hits = 0;
        for (int[] s : samples) for (int i = 0; i < prefix.length; i++) if (s[i] == prefix[i]) hits++;
        return (double) hits / (samples.length * prefix.length);
    }

    private static double frequency(int[][] samples, int token) {
        int hits = 0, total = 0;
        for (int[] s : samples) {
            for (int t : s) if (t == token) hits++;
            total += s.length;
        }
        return (double) hits / total;
    }

    private static double containingRate(int[][] samples, int token) {
        return (double) java.util.Arrays.stream(samples)
                        .filter(s -> java.util.Arrays.stream(s).anyMatch(t -> t == token))
                        .count()
                / samples.length;
    }

    @Test
    void weightedTermsKeepTheirOwnWeights() {
        List<GuidanceTerm> terms = Guidance.weighted(new int[] {1, 2}, new double[] {2.0, 10.0});
        assertThat(terms).containsExactly(GuidanceTerm.at(1, 2.0, 0), GuidanceTerm.at(2, 10.0, 1));
    }
}

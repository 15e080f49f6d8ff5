package plaid.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.model.Denoiser;
import plaid.model.DiffusionObjective.MicroBatch;
import plaid.model.NoiseSchedule;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;

class LikelihoodEvaluatorTest {
    private static final int VOCAB = 50;

    private static int[] corpus(int length, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[] t = new int[length];
        for (int i = 0; i < length; i++) t[i] = rng.nextInt(VOCAB);
        return t;
    }

    @Test
    void matchesTheBoundComputedDirectlyPerChunk() {
        PlaidParameters params = TinyModel.randomised(VOCAB, 3);
        int[] tokens = corpus(70, 5); // chunks of 16: four full, one of 6
        int seqLen = 16, samples = 24;
        long seed = 9;

        LikelihoodEstimate estimate =
                new LikelihoodEvaluator(TinyModel.config(VOCAB), params).evaluate(tokens, seqLen, samples, seed);

        LikelihoodEvaluator.Draws draws =
                new LikelihoodEvaluator.Draws(tokens, seqLen, TinyModel.config(VOCAB).embedDim, seed);
        double weighted = 0;
        long evaluated = 0;
        int reconstructionDraws = 0;
        for (int i = 0; i < samples; i++) {
            MicroBatch mb = draws.next();
            reconstructionDraws += mb.reconstBs();
            weighted += directBound(params, mb) * mb.tokens().length;
            evaluated += mb.tokens().length;
        }
        assertThat(reconstructionDraws)
                .as("some draws take the reconstruction term, most the diffusion term")
                .isBetween(1, samples - 1);
        assertThat(estimate.evaluatedTokens()).isEqualTo(evaluated);
        assertThat(estimate.corpusTokens()).isEqualTo(tokens.length);
        assertThat(estimate.nllPerToken())
                .isCloseTo(weighted / evaluated, org.assertj.core.data.Percentage.withPercentage(1e-4));
        assertThat(estimate.standardError()).isPositive();
    }

    /**
     * The eval-mode bound of one batch-1 draw from its definition: with avg_R = 1/8 a
     * reconstruction draw counts 8·mean CE, a diffusion draw diffusion/(7/8); plus the prior.
     */
    private static double directBound(PlaidParameters params, MicroBatch mb) {
        PlaidConfig c = TinyModel.config(VOCAB);
        ComputeBackend be = params.backend();
        int s = mb.seqLen(), e = c.embedDim;
        float[] emb = params.normalizedEmbedding();
        NoiseSchedule schedule = params.noiseSchedule();
        double g0 = params.gammaBounds()[0], g1 = params.gammaBounds()[1];
        double t = mb.t()[0];
        double gamma = g0 + (g1 - g0) * schedule.gammaTilde(t);
        double alpha = Math.sqrt(1 / (1 + Math.exp(gamma))), sigma = Math.sqrt(1 / (1 + Math.exp(-gamma)));

        float[] xEmbed = new float[s * e], z = new float[s * e];
        for (int p = 0; p < s; p++) {
            for (int j = 0; j < e; j++) {
                xEmbed[p * e + j] = emb[mb.tokens()[p] * e + j];
                z[p * e + j] = (float) (alpha * xEmbed[p * e + j] + sigma * mb.eps()[p * e + j]);
            }
        }
        Tensor embT = upload(be, emb, c.vocabSize, e), zT = upload(be, z, s, e);
        Denoiser d = new Denoiser(TinyModel.config(VOCAB), params, 1, s);
        d.forward(zT, new double[] {gamma}, embT, 1.0, be.allocate(s, e), null, Segments.whole(1, s));
        Tensor xSelfcond = upload(be, be.download(d.xReconst()), s, e);
        d.forward(zT, new double[] {gamma}, embT, 1.0, xSelfcond, null, Segments.whole(1, s));

        double alpha1 = Math.sqrt(1 / (1 + Math.exp(g1))), sigma1 = Math.sqrt(1 / (1 + Math.exp(-g1)));
        double prior = 0;
        for (float x : xEmbed) prior += -Math.log(sigma1) + (sigma1 * sigma1 + alpha1 * alpha1 * x * x) / 2 - 0.5;
        prior /= s;

        if (mb.reconstBs() == 1) {
            float[] logits = be.download(d.logits());
            double ce = 0;
            for (int p = 0; p < s; p++) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int v = 0; v < c.vocabSize; v++) max = Math.max(max, logits[p * c.vocabSize + v]);
                for (int v = 0; v < c.vocabSize; v++) sum += Math.exp(logits[p * c.vocabSize + v] - max);
                ce += max + Math.log(sum) - logits[p * c.vocabSize + mb.tokens()[p]];
            }
            return ce / s / (1 / 8.0) + prior;
        }
        float[] xHat = be.download(d.xReconst());
        double sqErr = 0;
        for (int k = 0; k < s * e; k++) sqErr += Math.pow(xEmbed[k] - xHat[k], 2);
        double snrPrime = -Math.exp(-gamma) * (g1 - g0) * schedule.gammaTildePrime(t);
        double diffusion = -0.5 * snrPrime * sqErr / s;
        return diffusion / (1 - 1 / 8.0) + prior;
    }

    private static Tensor upload(ComputeBackend be, float[] values, int... shape) {
        Tensor t = be.allocate(shape);
        be.upload(values, t);
        return t;
    }

    @Test
    void isDeterministicFromItsSeed() {
        PlaidParameters params = TinyModel.randomised(VOCAB, 4);
        int[] tokens = corpus(40, 6);
        LikelihoodEvaluator evaluator = new LikelihoodEvaluator(TinyModel.config(VOCAB), params);
        LikelihoodEstimate a = evaluator.evaluate(tokens, 8, 10, 1);
        LikelihoodEstimate b = evaluator.evaluate(tokens, 8, 10, 1);
        LikelihoodEstimate other = evaluator.evaluate(tokens, 8, 10, 2);
        assertThat(b).isEqualTo(a);
        assertThat(other.nllPerToken()).isNotEqualTo(a.nllPerToken());
    }

    @Test
    void derivesWordAndCharacterMetricsFromTheCorpusTokenCount() {
        LikelihoodEstimate e = new LikelihoodEstimate(2.0, 0.1, 10, 500, 1000);
        assertThat(e.wordsPerToken(750)).isEqualTo(0.75);
        assertThat(e.wordPerplexity(750))
                .isCloseTo(Math.exp(2.0 * 1000 / 750), org.assertj.core.data.Offset.offset(1e-9));
        assertThat(e.bitsPerCharacter(4000))
                .isCloseTo(2.0 * 1000 / (4000 * Math.log(2)), org.assertj.core.data.Offset.offset(1e-12));
    }

    @Test
    void rejectsInputsThatCannotBeEvaluated() {
        LikelihoodEvaluator evaluator =
                new LikelihoodEvaluator(TinyModel.config(VOCAB), TinyModel.initialised(VOCAB, 1));
        assertThatThrownBy(() -> evaluator.evaluate(new int[] {1, VOCAB}, 4, 1, 0))
                .hasMessageContaining("tokens[1]");
        assertThatThrownBy(() -> evaluator.evaluate(new int[] {1, 2}, 0, 1, 0)).hasMessageContaining("seq_len");
        assertThatThrownBy(() -> evaluator.evaluate(new int[] {1, 2}, 4, 0, 0)).hasMessageContaining("samples");
    }
}

package plaid.model.sampling;

import java.util.Arrays;
import java.util.List;
import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.model.Denoiser;

/**
 * ∇_z G for sample.py's guidance objective G = Σ_k w_k · Σ_samples log p_k, through the
 * denoiser's latest forward. Every term's dG/dlogits has the log_softmax-backward form
 * c·(onehot(token) − p) at the positions it reads, so only the per-position coefficients
 * c differ between 'at', 'any', 'all' and the complement; the denoiser's backward carries
 * the sum to z.
 */
final class GuidanceGradient {
    private final ComputeBackend be;
    private final int vocabSize;
    /** The denoiser's backward also yields dÊ; guidance has no use for it. */
    private final Tensor discardedEmbeddingGradient;

    GuidanceGradient(ComputeBackend be, int vocabSize, int embedDim) {
        this.be = be;
        this.vocabSize = vocabSize;
        this.discardedEmbeddingGradient = be.allocate(vocabSize, embedDim);
    }

    /** d G / d z [N·S·E] at the denoiser's latest forward. */
    float[] compute(Denoiser denoiser, List<GuidanceTerm> terms) {
        int rows = denoiser.rows(), seqLen = denoiser.seqLen();
        for (GuidanceTerm term : terms) {
            int first = term.position() instanceof GuidanceTerm.At(int index) ? index : 0;
            int count = term.position() instanceof GuidanceTerm.At ? 1 : seqLen;
            int[] targets = new int[count];
            Arrays.fill(targets, term.token());
            for (int b = 0; b < rows; b++) {
                long offset = (long) (b * seqLen + first) * vocabSize;
                double[] logp = be.crossEntropy(denoiser.logits().view(offset, count, vocabSize), targets);
                for (int j = 0; j < count; j++) logp[j] = -logp[j];
                double[] slope = slopes(term, logp, seqLen);
                // crossEntropyBackward adds scale·(p − onehot): the negated slope gives slope·(onehot − p)
                float[] scale = new float[count];
                for (int j = 0; j < count; j++) scale[j] = (float) -slope[j];
                be.crossEntropyBackward(denoiser.probs().view(offset, count, vocabSize), targets, scale,
                        denoiser.logitGradient().view(offset, count, vocabSize));
            }
        }
        return be.download(denoiser.backward(null, discardedEmbeddingGradient, false).dz());
    }

    /** d(w·term)/d log p at each position the term reads. */
    private static double[] slopes(GuidanceTerm term, double[] logp, int seqLen) {
        double[] slope = new double[logp.length];
        if (term.position() instanceof GuidanceTerm.Anywhere) {
            // log p_any = logsumexp_s log p_s − S: its slope is the softmax over positions
            double max = Arrays.stream(logp).max().orElseThrow(), sum = 0;
            for (double l : logp) sum += Math.exp(l - max);
            double logpAny = max + Math.log(sum) - seqLen;
            double outer = term.weight() * (term.complement() ? log1mexpSlope(logpAny) : 1.0);
            for (int j = 0; j < logp.length; j++) slope[j] = outer * Math.exp(logp[j] - max) / sum;
        } else {
            for (int j = 0; j < logp.length; j++) slope[j] = term.weight() * (term.complement() ? log1mexpSlope(logp[j]) : 1.0);
        }
        return slope;
    }

    /** d/dl log(1 − eˡ) = −1/expm1(−l), for l = log p ≤ 0. */
    private static double log1mexpSlope(double l) {
        return -1.0 / Math.expm1(-l);
    }
}

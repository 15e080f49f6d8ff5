package plaid.model.sampling;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;
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

    /** The guidance terms of rows first.. first+count of a batch (one request's rows). */
    record RowTerms(int first, int count, List<GuidanceTerm> terms) {}

    /** d G / d z [N·S·E] at the denoiser's latest forward, every row guided by {@code terms}. */
    float[] compute(Denoiser denoiser, List<GuidanceTerm> terms) {
        return computeByRows(denoiser, List.of(new RowTerms(0, denoiser.rows(), terms)));
    }

    /**
     * d G / d z [N·S·E] at the denoiser's latest forward, each range of rows with its own terms (rows in no
     * range get no gradient): G is a sum over rows and every row's forward is its own, so each row's
     * gradient is what a batch of its request alone gives it.
     */
    float[] computeByRows(Denoiser denoiser, List<RowTerms> rowTerms) {
        int seqLen = denoiser.seqLen();
        for (RowTerms rows : rowTerms) {
            for (GuidanceTerm[] pass : positionPasses(rows.terms, seqLen)) addPositionTerms(denoiser, rows, pass);
            for (GuidanceTerm term : rows.terms) {
                if (term.position() instanceof GuidanceTerm.At) continue;
                int[] targets = new int[seqLen];
                Arrays.fill(targets, term.token());
                addTerm(denoiser, rows, 0, targets, logp -> slopes(term, logp, seqLen));
            }
        }
        return be.download(
                denoiser.backward(null, discardedEmbeddingGradient, false).dz());
    }

    /**
     * The 'at' terms as passes of at most one term per position ({@code pass[s]}, null where none), in the
     * terms' order: each pass costs one cross-entropy and one backward per sample over the span of positions
     * it covers, rather than one of each per term and sample, each waiting for the device (a prefix of 8 tokens
     * and 8 samples: 16 launches instead of 128).
     */
    private static List<GuidanceTerm[]> positionPasses(List<GuidanceTerm> terms, int seqLen) {
        List<GuidanceTerm[]> passes = new ArrayList<>();
        for (GuidanceTerm term : terms) {
            if (!(term.position() instanceof GuidanceTerm.At(int index))) continue;
            GuidanceTerm[] free =
                    passes.stream().filter(p -> p[index] == null).findFirst().orElse(null);
            if (free == null) passes.add(free = new GuidanceTerm[seqLen]);
            free[index] = term;
        }
        return passes;
    }

    /** One pass of 'at' terms, over the positions from its first term's to its last's (those between get slope 0). */
    private void addPositionTerms(Denoiser denoiser, RowTerms rows, GuidanceTerm[] pass) {
        int first = 0, last = pass.length - 1;
        while (pass[first] == null) first++;
        while (pass[last] == null) last--;
        int[] targets = new int[last - first + 1];
        for (int j = 0; j < targets.length; j++) targets[j] = pass[first + j] == null ? 0 : pass[first + j].token();
        int from = first;
        addTerm(denoiser, rows, first, targets, logp -> {
            double[] slope = new double[logp.length];
            for (int j = 0; j < slope.length; j++) {
                GuidanceTerm term = pass[from + j];
                if (term != null) slope[j] = pointSlope(term, logp[j]);
            }
            return slope;
        });
    }

    /**
     * For each sample of {@code rows}, adds slope·(onehot(target) − p) to the logit gradient at positions first.. (one per target),
     * the slopes given by {@code slopes} from log p of the targets there.
     */
    private void addTerm(Denoiser denoiser, RowTerms rows, int first, int[] targets, UnaryOperator<double[]> slopes) {
        int seqLen = denoiser.seqLen(), count = targets.length;
        for (int b = rows.first; b < rows.first + rows.count; b++) {
            long offset = (long) (b * seqLen + first) * vocabSize;
            double[] logp = be.crossEntropy(denoiser.logits().view(offset, count, vocabSize), targets);
            for (int j = 0; j < count; j++) logp[j] = -logp[j];
            double[] slope = slopes.apply(logp);
            // crossEntropyBackward adds scale·(p − onehot): the negated slope gives slope·(onehot − p)
            float[] scale = new float[count];
            for (int j = 0; j < count; j++) scale[j] = (float) -slope[j];
            be.crossEntropyBackward(
                    denoiser.probs().view(offset, count, vocabSize),
                    targets,
                    scale,
                    denoiser.logitGradient().view(offset, count, vocabSize));
        }
    }

    /** d(w·term)/d log p at each position an 'anywhere' or 'everywhere' term reads. */
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
            for (int j = 0; j < logp.length; j++) slope[j] = pointSlope(term, logp[j]);
        }
        return slope;
    }

    /** d(w·term)/d log p of a term that reads one position's log p (its own, not a sum over positions). */
    private static double pointSlope(GuidanceTerm term, double logp) {
        return term.weight() * (term.complement() ? log1mexpSlope(logp) : 1.0);
    }

    /** d/dl log(1 − eˡ) = −1/expm1(−l), for l = log p ≤ 0. */
    private static double log1mexpSlope(double l) {
        return -1.0 / Math.expm1(-l);
    }
}

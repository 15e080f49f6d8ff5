package plaid.model.sampling;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.SplittableRandom;
import plaid.model.DiffusionObjective;
import plaid.model.DiffusionObjective.MicroBatch;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;

/**
 * The original's zero-shot likelihood evaluation (train.py's compute_nll over
 * datasets._eval_dataset): the sequence cut into non-overlapping seq_len chunks (the last
 * may be short), visited in seeded shuffled passes at batch 1, each visit one eval-mode
 * draw of the bound: R = B div 8 + Bernoulli((B mod 8)/8) reconstruction rows, avg_R = B/8,
 * t = u ~ U(0, 1) otherwise, every row self-conditioned, bias scale 1. Deterministic from
 * its seed. (The original's loop runs {@code steps + 1} batches; here {@code samples} is
 * the exact count.)
 */
public final class LikelihoodEvaluator {
    private static final int BATCH_ROWS = 1;

    private final PlaidConfig config;
    private final PlaidParameters params;
    private final DiffusionObjective objective;

    public LikelihoodEvaluator(PlaidConfig config, PlaidParameters params) {
        this.config = config;
        this.params = params;
        this.objective = new DiffusionObjective(config, params);
    }

    public LikelihoodEstimate evaluate(int[] tokens, int seqLen, int samples, long seed) {
        int vocab = config.vocabSize;
        if (tokens.length == 0) throw new IllegalArgumentException("tokens must not be empty");
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= vocab) {
                throw new IllegalArgumentException(
                        "tokens[" + i + "] = " + tokens[i] + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        if (seqLen <= 0) throw new IllegalArgumentException("seq_len must be positive, got " + seqLen);
        if (samples <= 0) throw new IllegalArgumentException("samples must be positive, got " + samples);

        double[] nll = new double[samples];
        int[] length = new int[samples];
        Draws draws = new Draws(tokens, seqLen, config.embedDim, seed);
        double weighted = 0;
        long evaluated = 0;
        for (int i = 0; i < samples; i++) {
            MicroBatch mb = draws.next();
            nll[i] = objective.evaluate(mb, false).nll();
            length[i] = mb.tokens().length;
            weighted += nll[i] * length[i];
            evaluated += length[i];
        }
        double estimate = weighted / evaluated;
        return new LikelihoodEstimate(
                estimate, ratioStandardError(nll, length, estimate, evaluated), samples, evaluated, tokens.length);
    }

    /**
     * The eval-mode draws in order, made lazily (ε is seq_len·E floats per draw): one seeded
     * generator shuffles each pass over the chunks and draws R, u and ε.
     */
    static final class Draws implements Iterator<MicroBatch> {
        private final List<int[]> chunks = new ArrayList<>();
        private final int[] order;
        private final int embedDim;
        private final SplittableRandom rng;
        private int made;

        Draws(int[] tokens, int seqLen, int embedDim, long seed) {
            for (int start = 0; start < tokens.length; start += seqLen) {
                chunks.add(Arrays.copyOfRange(tokens, start, Math.min(start + seqLen, tokens.length)));
            }
            this.order = new int[chunks.size()];
            this.embedDim = embedDim;
            this.rng = new SplittableRandom(seed);
        }

        @Override
        public boolean hasNext() {
            return true;
        }

        @Override
        public MicroBatch next() {
            int inPass = made++ % order.length;
            if (inPass == 0) shuffle();
            int[] chunk = chunks.get(order[inPass]);
            return DiffusionObjective.evalMicroBatch(chunk, BATCH_ROWS, chunk.length, embedDim, rng);
        }

        private void shuffle() {
            for (int i = 0; i < order.length; i++) order[i] = i;
            for (int i = order.length - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int tmp = order[i];
                order[i] = order[j];
                order[j] = tmp;
            }
        }
    }

    /** Delta-method standard error of the ratio Σ nᵢxᵢ / Σ nᵢ over the samples. */
    private static double ratioStandardError(double[] x, int[] n, double estimate, long total) {
        int m = x.length;
        if (m < 2) return Double.NaN;
        double s = 0;
        for (int i = 0; i < m; i++) {
            double d = n[i] * (x[i] - estimate);
            s += d * d;
        }
        return Math.sqrt(s * m / (m - 1.0)) / total;
    }
}

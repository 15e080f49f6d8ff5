package plaid.model.head;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;

/**
 * {@link PlaidHead}'s math over chunks of token rows, so that at most {@code chunk × V} logits, their
 * softmax and gradient exist at once (issue 17: the whole [rows·S, V] set is 8 GiB a tensor for the small
 * model at batch 256). The forward keeps only x̂, y = output_norm(h) and zb; the logits of a chunk are
 * recomputed when the cross-entropy or the backward needs them. The loss's logit gradient is not written
 * by the caller but described ({@link #addCrossEntropyGradient}) and formed chunk by chunk in the backward.
 *
 * <p>On the CPU every per-row result (x̂, the cross-entropy, d/dh, d/dz, d/dγ) is bit-for-bit the
 * unchunked head's: each is a row's own dot products, in the same order. Sums over rows differ only in
 * where float rounding falls: output_linear.weight's gradient is the same bit for bit when the chunk is a
 * multiple of 256 rows (the CPU GEMM's k block); its bias's and Ê's gradients add the chunks' partial
 * sums one by one (relative differences of float rounding, ~1e-7 per chunk).
 */
final class ChunkedPlaidHead implements OutputHead {
    private final ComputeBackend be;
    private final OutputNorm norm;
    private final Readout readout;
    private final ZBias zb;
    private final int tokens, vocab, chunk;
    private final Tensor xReconst;
    // one chunk's logits (reused for d/dprobs in the backward), softmax and d/dlogits
    private final Tensor logits, probs, dLogits;
    // gradient scratch: d/dy, d/dzb, and (1 − m)-scaled dx̂ and zb [rows·S, E]
    private final Tensor dY, dZb, keptDx, keptZb;
    /** The inputs of the latest forward: the cross-entropy reads Ê of them. */
    private HeadInputs latest;
    /** The cross-entropy gradients asked for since the latest forward. */
    private final List<CrossEntropyGradient> lossGradients = new ArrayList<>();

    /** d/dlogits += factor·(softmax − onehot(targets)) on the first {@code targets.length} rows. */
    private record CrossEntropyGradient(int[] targets, float factor) {}

    ChunkedPlaidHead(PlaidConfig config, PlaidParameters params, Tensor h, int rowsPerChunk) {
        this.be = params.backend();
        this.tokens = h.shape()[0];
        this.vocab = config.vocabSize;
        this.chunk = Math.min(rowsPerChunk, tokens);
        int e = config.embedDim;
        norm = new OutputNorm(config, params, "", h);
        readout = new Readout(params, "");
        zb = new ZBias(be, tokens, e);
        xReconst = be.allocate(tokens, e);
        logits = be.allocate(chunk, vocab);
        probs = be.allocate(chunk, vocab);
        dLogits = be.allocate(chunk, vocab);
        dY = be.allocate(h.shape());
        dZb = be.allocate(tokens, e);
        keptDx = be.allocate(tokens, e);
        keptZb = be.allocate(tokens, e);
    }

    /** Rows per chunk. */
    int chunkRows() {
        return chunk;
    }

    @Override
    public LogitSet logits() {
        throw new IllegalStateException("the chunked output head keeps no [rows·S, V] logits (" + HeadChunks.PROPERTY
                + "): read the cross-entropy and x̂, or build the head unchunked");
    }

    @Override
    public Tensor xReconst() {
        return xReconst;
    }

    @Override
    public void forward(HeadInputs in) {
        latest = in;
        lossGradients.clear();
        norm.forward();
        zb.forward(in);
        int e = xReconst.shape()[1];
        for (int lo = 0; lo < tokens; lo += chunk) {
            int n = Math.min(chunk, tokens - lo);
            Tensor l = chunkLogits(in, lo, n), p = probs.view(0, n, vocab);
            be.softmax(l, p);
            be.gemm(false, false, 1f, p, in.embedding(), 0f, xReconst.view((long) lo * e, n, e));
        }
    }

    /** logits[lo, lo + n) = y W_outᵀ + b_out + zb Êᵀ into the chunk buffer. */
    private Tensor chunkLogits(HeadInputs in, int lo, int n) {
        Tensor l = logits.view(0, n, vocab);
        Tensor y = norm.output();
        int d = y.shape()[1], e = zb.value().shape()[1];
        readout.forward(y.view((long) lo * d, n, d), l);
        be.gemm(false, true, 1f, zb.value().view((long) lo * e, n, e), in.embedding(), 1f, l);
        return l;
    }

    @Override
    public boolean keepsLogits() {
        return false;
    }

    /** Recomputes the logits of the first {@code targets.length} rows, a chunk at a time. */
    @Override
    public double[] crossEntropy(ComputeBackend unused, int[] targets, boolean secondary) {
        requireRows(targets, secondary);
        double[] out = new double[targets.length];
        for (int lo = 0; lo < targets.length; lo += chunk) {
            int n = Math.min(chunk, targets.length - lo);
            double[] ce = be.crossEntropy(chunkLogits(latest, lo, n), Arrays.copyOfRange(targets, lo, lo + n));
            System.arraycopy(ce, 0, out, lo, n);
        }
        return out;
    }

    /** Kept for the backward, which forms each chunk's logit gradient. */
    @Override
    public void addCrossEntropyGradient(ComputeBackend unused, int[] targets, float factor, boolean secondary) {
        requireRows(targets, secondary);
        lossGradients.add(new CrossEntropyGradient(targets.clone(), factor));
    }

    private void requireRows(int[] targets, boolean secondary) {
        if (secondary) throw new IllegalStateException("Plaid's head has no secondary logits");
        if (latest == null) throw new IllegalStateException("no forward yet");
        if (targets.length > tokens)
            throw new IllegalArgumentException("targets: " + targets.length + " for " + tokens + " token rows");
    }

    /**
     * PlaidHead's backward, one chunk of rows at a time and in its order within the chunk: d/dlogits =
     * the loss's (p − onehot)·factor + the softmax backward of dp = dx̂ Êᵀ; then the readout, zb and Ê.
     */
    @Override
    public void backward(
            HeadInputs in,
            Tensor dXReconst,
            Tensor dEmbedding,
            boolean parameterGradients,
            Tensor dh,
            Tensor dz,
            double[] dGamma) {
        float[] keep = in.liveEmbeddingRows();
        if (dXReconst != null) be.scaleGroups(dXReconst, keep, keptDx);
        be.scaleGroups(zb.value(), keep, keptZb);
        Tensor y = norm.output();
        int d = y.shape()[1], e = xReconst.shape()[1];
        for (int lo = 0; lo < tokens; lo += chunk) {
            int n = Math.min(chunk, tokens - lo);
            long rowsE = (long) lo * e;
            Tensor p = probs.view(0, n, vocab), dl = dLogits.view(0, n, vocab);
            be.softmax(chunkLogits(in, lo, n), p);
            // a chunk no loss gradient reaches takes the softmax backward's result as it is (0 + g = g)
            boolean lossRows = false;
            for (CrossEntropyGradient g : lossGradients) lossRows |= g.targets().length > lo;
            boolean overwrite = dXReconst != null && !lossRows;
            if (!overwrite) be.fill(dl, 0f);
            for (CrossEntropyGradient g : lossGradients) {
                int m = Math.min(n, g.targets().length - lo);
                if (m <= 0) continue;
                be.crossEntropyBackward(
                        probs.view(0, m, vocab),
                        Arrays.copyOfRange(g.targets(), lo, lo + m),
                        new float[] {g.factor()},
                        dLogits.view(0, m, vocab));
            }
            if (dXReconst != null) {
                Tensor dProbs = logits.view(0, n, vocab); // this chunk's logits are not read any more
                be.gemm(false, true, 1f, dXReconst.view(rowsE, n, e), in.embedding(), 0f, dProbs);
                be.softmaxBackward(p, dProbs, dl, !overwrite);
                be.gemm(true, false, 1f, p, keptDx.view(rowsE, n, e), 1f, dEmbedding);
            }
            readout.backward(dl, y.view((long) lo * d, n, d), dY.view((long) lo * d, n, d), parameterGradients);
            be.gemm(false, false, 1f, dl, in.embedding(), 0f, dZb.view(rowsE, n, e));
            be.gemm(true, false, 1f, dl, keptZb.view(rowsE, n, e), 1f, dEmbedding);
        }
        zb.backward(dZb, in, dz, dGamma);
        norm.backward(dY, dh, parameterGradients);
    }
}

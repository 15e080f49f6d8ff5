package plaid.model;

import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.options.PlaidConfig;

/**
 * One of the denoiser's L blocks (plaid-reference §2 step 3), forward and backward side by side:
 * <pre>
 *   a   = RMSNorm₁(h_in)                     mid = h_in + r·attn(a) W_oᵀ
 *   b   = RMSNorm₂(mid)                      h_out = mid + r·gelu(b W_fc1ᵀ) W_fc2ᵀ
 * </pre>
 * with r = 1/√L. Its weights are resolved once here; its {@link Activations} are what its backward reads
 * of the latest forward, its own or, for a block that recomputes them, a set it shares with other such
 * blocks. The residual stream h_in, h_out belongs to the denoiser (one block's output is the next one's
 * input), as does the {@link Workspace} every block shares.
 */
final class TransformerBlock {
    private static final float NORM_EPS = 1e-5f;

    /**
     * Buffers the blocks share, since they are used one block at a time: the RMSNorm outputs a, b and
     * GELU(fc1) of the block at hand (in the backward recomputed from the norms' inputs and the MLP's
     * pre-activation rather than kept per block, 2·D and 4·D floats a token each) and the backward's
     * gradient scratch.
     */
    record Workspace(
            Tensor norm, Tensor mlpActivation, Tensor dMid, Tensor dNorm, Tensor dAttn, Tensor dQkv, Tensor dFc) {
        static Workspace allocate(ComputeBackend be, int tokens, int dim) {
            return new Workspace(
                    be.allocate(tokens, dim),
                    be.allocate(tokens, 4 * dim),
                    be.allocate(tokens, dim),
                    be.allocate(tokens, dim),
                    be.allocate(tokens, dim),
                    be.allocate(tokens, 3 * dim),
                    be.allocate(tokens, 4 * dim));
        }
    }

    /**
     * What a block's backward reads of its forward besides h_in and the workspace: 1/rms of both norms,
     * qkv, the attention output and log-sum-exps, mid and the MLP's pre-activation (9·D + H + 2 floats a
     * token).
     */
    record Activations(Tensor rstd1, Tensor qkv, Tensor attn, Tensor lse, Tensor mid, Tensor rstd2, Tensor fc1Pre) {
        static Activations allocate(ComputeBackend be, PlaidConfig c, int rows, int seqLen) {
            int tokens = rows * seqLen, d = c.dim;
            return new Activations(
                    be.allocate(tokens),
                    be.allocate(rows, seqLen, 3, c.nHeads, c.headDim()),
                    be.allocate(tokens, d),
                    be.allocate(rows, c.nHeads, seqLen),
                    be.allocate(tokens, d),
                    be.allocate(tokens),
                    be.allocate(tokens, 4 * d));
        }

        /** The bytes {@link #allocate} takes for {@code tokens} token rows. */
        static long bytes(PlaidConfig c, long tokens) {
            return Float.BYTES * tokens * (9L * c.dim + c.nHeads + 2);
        }
    }

    private final ComputeBackend be;
    private final Workspace ws;
    private final int rows, seqLen, heads, headDim;
    private final float residual;
    private final float[] invFreq;

    // weights: blocks.i.{rmsnorm1, attn_qkv, attn_out, rmsnorm2, mlp.fc1, mlp.fc2}.weight
    private final Parameter rmsNorm1, attnQkv, attnOut, rmsNorm2, fc1, fc2;

    // the residual stream around the block
    private final Tensor in, out;
    // activations of the latest forward, or of the latest recomputing block's when shared
    private final Tensor rstd1, qkv, attn, lse, mid, rstd2, fc1Pre;
    /** Whether the activations are shared, so that the backward first recomputes them. */
    private final boolean recomputes;

    /**
     * @param index which block, for the state-dict names
     * @param in    h_in [rows·S, D], written by whatever precedes the block
     * @param out   h_out [rows·S, D], where the block writes
     * @param kept  where its forward keeps what the backward reads
     * @param recomputes whether {@code kept} is shared with other blocks, so that the backward runs the
     *                   forward again first
     */
    TransformerBlock(
            PlaidConfig c,
            PlaidParameters params,
            int index,
            int rows,
            int seqLen,
            Tensor in,
            Tensor out,
            Workspace ws,
            Activations kept,
            boolean recomputes) {
        this.be = params.backend();
        this.ws = ws;
        this.rows = rows;
        this.seqLen = seqLen;
        this.heads = c.nHeads;
        this.headDim = c.headDim();
        this.residual = (float) (1.0 / Math.sqrt(c.nBlocks));
        this.invFreq = params.rotaryInvFreq();
        String p = "blocks." + index + ".";
        rmsNorm1 = params.model(p + "rmsnorm1.weight");
        attnQkv = params.model(p + "attn_qkv.weight");
        attnOut = params.model(p + "attn_out.weight");
        rmsNorm2 = params.model(p + "rmsnorm2.weight");
        fc1 = params.model(p + "mlp.fc1.weight");
        fc2 = params.model(p + "mlp.fc2.weight");
        this.in = in;
        this.out = out;
        this.rstd1 = kept.rstd1();
        this.qkv = kept.qkv();
        this.attn = kept.attn();
        this.lse = kept.lse();
        this.mid = kept.mid();
        this.rstd2 = kept.rstd2();
        this.fc1Pre = kept.fc1Pre();
        this.recomputes = recomputes;
    }

    /**
     * h_out from h_in. With {@code forBackward} false the backend may skip the fp32 copies only the
     * backward reads (qkv, attention output, log-sum-exps, the MLP's pre-activation).
     */
    void forward(Segments segments, boolean forBackward) {
        Tensor norm = ws.norm(); // a, then b: each is read only by the product right after it
        be.rmsNorm(in, rmsNorm1.value(), NORM_EPS, norm, rstd1);
        be.attentionOnto(
                residual,
                norm,
                attnQkv.value(),
                attnOut.value(),
                heads,
                invFreq,
                segments,
                in,
                mid,
                qkv,
                attn,
                lse,
                forBackward);
        be.rmsNorm(mid, rmsNorm2.value(), NORM_EPS, norm, rstd2);
        be.mlpOnto(residual, norm, fc1.value(), fc2.value(), mid, out, ws.mlpActivation(), fc1Pre, forBackward);
    }

    /**
     * Through the block of the latest forward: {@code dh} holds d/dh_out on entry and d/dh_in on return.
     * With {@code parameterGradients} the weights' gradients accumulate; without, they are not touched.
     * A block that shares its activations first runs its forward again from h_in, which the backward never
     * writes; that also rewrites h_out with the bits it holds, which the blocks after it are done with.
     */
    void backward(Tensor dh, Segments segments, boolean parameterGradients) {
        if (recomputes) forward(segments, true);
        Tensor dMid = ws.dMid(), dNorm = ws.dNorm(), dAttn = ws.dAttn(), dQkv = ws.dQkv(), dFc = ws.dFc();
        Tensor norm = ws.norm();
        // MLP: h_out = mid + r·fc2(gelu(fc1(b)))
        be.gemm(false, false, residual, dh, fc2.value(), 0f, dFc);
        if (parameterGradients) {
            be.gelu(fc1Pre, ws.mlpActivation());
            be.gemm(true, false, residual, dh, ws.mlpActivation(), 1f, fc2.grad());
            // b again, the forward's bits (rstd2 gets the ones it holds), for fc1's gradient; before the GELU
            // backward, whose output's bf16 copy the next products take
            be.rmsNorm(mid, rmsNorm2.value(), NORM_EPS, norm, rstd2);
        }
        be.geluBackward(dFc, fc1Pre, dFc);
        if (parameterGradients) be.gemm(true, false, 1f, dFc, norm, 1f, fc1.grad());
        be.gemm(false, false, 1f, dFc, fc1.value(), 0f, dNorm);
        be.rmsNormBackward(dNorm, mid, rmsNorm2.value(), rstd2, dMid, weightGradient(rmsNorm2, parameterGradients));
        be.axpy(1f, dh, dMid);
        // attention: mid = h_in + r·attn(a) W_oᵀ
        be.gemm(false, false, residual, dMid, attnOut.value(), 0f, dAttn);
        if (parameterGradients) be.gemm(true, false, residual, dMid, attn, 1f, attnOut.grad());
        Tensor dQkv5 = dQkv.reshape(rows, seqLen, 3, heads, headDim);
        be.attentionBackward(
                dAttn.reshape(rows, seqLen, heads, headDim),
                qkv,
                attn.reshape(rows, seqLen, heads, headDim),
                lse,
                heads,
                segments,
                dQkv5);
        if (parameterGradients) be.rmsNorm(in, rmsNorm1.value(), NORM_EPS, norm, rstd1); // a again
        be.rotary(dQkv5, heads, invFreq, true);
        if (parameterGradients) be.gemm(true, false, 1f, dQkv, norm, 1f, attnQkv.grad());
        be.gemm(false, false, 1f, dQkv, attnQkv.value(), 0f, dNorm);
        be.rmsNormBackward(dNorm, in, rmsNorm1.value(), rstd1, dh, weightGradient(rmsNorm1, parameterGradients));
        be.axpy(1f, dMid, dh);
    }

    /** Where a norm's weight gradient goes: the parameter's, or nowhere (null) when none is wanted. */
    private static Tensor weightGradient(Parameter norm, boolean parameterGradients) {
        return parameterGradients ? norm.grad() : null;
    }
}

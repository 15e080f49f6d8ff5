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
 * with r = 1/√L. Its weights are resolved once here; its activations are what its backward reads
 * of the latest forward. The residual stream h_in, h_out belongs to the denoiser (one block's output
 * is the next one's input), as does the {@link Workspace} every block shares.
 */
final class TransformerBlock {
    private static final float NORM_EPS = 1e-5f;

    /**
     * Buffers the blocks share, since they are used one block at a time: GELU(fc1) of the block at hand
     * (recomputed from its pre-activation in the backward rather than kept per block, 4·D floats a
     * token each) and the backward's gradient scratch.
     */
    record Workspace(Tensor mlpActivation, Tensor dMid, Tensor dNorm, Tensor dAttn, Tensor dQkv, Tensor dFc) {
        static Workspace allocate(ComputeBackend be, int tokens, int dim) {
            return new Workspace(
                    be.allocate(tokens, 4 * dim),
                    be.allocate(tokens, dim),
                    be.allocate(tokens, dim),
                    be.allocate(tokens, dim),
                    be.allocate(tokens, 3 * dim),
                    be.allocate(tokens, 4 * dim));
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
    // activations of the latest forward
    private final Tensor norm1, rstd1, qkv, attn, lse, mid, norm2, rstd2, fc1Pre;

    /**
     * @param index which block, for the state-dict names
     * @param in    h_in [rows·S, D], written by whatever precedes the block
     * @param out   h_out [rows·S, D], where the block writes
     */
    TransformerBlock(
            PlaidConfig c,
            PlaidParameters params,
            int index,
            int rows,
            int seqLen,
            Tensor in,
            Tensor out,
            Workspace ws) {
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
        int tokens = rows * seqLen, d = c.dim;
        norm1 = be.allocate(tokens, d);
        rstd1 = be.allocate(tokens);
        qkv = be.allocate(rows, seqLen, 3, heads, headDim);
        attn = be.allocate(tokens, d);
        lse = be.allocate(rows, heads, seqLen);
        mid = be.allocate(tokens, d);
        norm2 = be.allocate(tokens, d);
        rstd2 = be.allocate(tokens);
        fc1Pre = be.allocate(tokens, 4 * d);
    }

    /**
     * h_out from h_in. With {@code forBackward} false the backend may skip the fp32 copies only the
     * backward reads (qkv, attention output, log-sum-exps, the MLP's pre-activation).
     */
    void forward(Segments segments, boolean forBackward) {
        be.rmsNorm(in, rmsNorm1.value(), NORM_EPS, norm1, rstd1);
        be.attentionOnto(
                residual,
                norm1,
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
        be.rmsNorm(mid, rmsNorm2.value(), NORM_EPS, norm2, rstd2);
        be.mlpOnto(residual, norm2, fc1.value(), fc2.value(), mid, out, ws.mlpActivation(), fc1Pre, forBackward);
    }

    /**
     * Through the block of the latest forward: {@code dh} holds d/dh_out on entry and d/dh_in on return.
     * With {@code parameterGradients} the weights' gradients accumulate; without, they are not touched.
     */
    void backward(Tensor dh, Segments segments, boolean parameterGradients) {
        Tensor dMid = ws.dMid(), dNorm = ws.dNorm(), dAttn = ws.dAttn(), dQkv = ws.dQkv(), dFc = ws.dFc();
        // MLP: h_out = mid + r·fc2(gelu(fc1(b)))
        be.gemm(false, false, residual, dh, fc2.value(), 0f, dFc);
        if (parameterGradients) {
            be.gelu(fc1Pre, ws.mlpActivation());
            be.gemm(true, false, residual, dh, ws.mlpActivation(), 1f, fc2.grad());
        }
        be.geluBackward(dFc, fc1Pre, dFc);
        if (parameterGradients) be.gemm(true, false, 1f, dFc, norm2, 1f, fc1.grad());
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
        be.rotary(dQkv5, heads, invFreq, true);
        if (parameterGradients) be.gemm(true, false, 1f, dQkv, norm1, 1f, attnQkv.grad());
        be.gemm(false, false, 1f, dQkv, attnQkv.value(), 0f, dNorm);
        be.rmsNormBackward(dNorm, in, rmsNorm1.value(), rstd1, dh, weightGradient(rmsNorm1, parameterGradients));
        be.axpy(1f, dMid, dh);
    }

    /** Where a norm's weight gradient goes: the parameter's, or nowhere (null) when none is wanted. */
    private static Tensor weightGradient(Parameter norm, boolean parameterGradients) {
        return parameterGradients ? norm.grad() : null;
    }
}

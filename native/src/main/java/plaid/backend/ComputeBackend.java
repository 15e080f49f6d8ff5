package plaid.backend;

import java.util.Collection;
import java.util.List;
import java.util.function.Supplier;

/**
 * The coarse operations Plaid's denoiser, objective and optimiser are built from.
 *
 * <p>All tensors are float32, row-major and contiguous ({@link Tensor}). Conventions:
 * a backward op <em>overwrites</em> the gradient of its input and <em>accumulates</em>
 * into parameter gradients (so gradient accumulation over micro-batches is free).
 * Per-row host arrays ({@code float[]} factors, {@code int[]} ids) are small and passed
 * by value; everything with a sequence or vocabulary dimension stays on the backend.
 *
 * <p>{@link plaid.backend.cpu.CpuBackend} is the readable reference; other backends must
 * agree with it.
 */
public interface ComputeBackend extends AutoCloseable {

    String name();

    /**
     * Whether the matrix products and attention round their inputs to bf16 (the CUDA backend's bf16
     * mode), so that results agree with the reference to that mode's bounds rather than to fp32 rounding.
     */
    default boolean bf16Arithmetic() {
        return false;
    }

    // ---- memory -------------------------------------------------------------------

    /**
     * The memory of the backend's own device in bytes, what workspaces (the chunked output head) size
     * themselves by; empty where tensors live in the JVM's heap.
     */
    default java.util.OptionalLong deviceMemoryBytes() {
        return java.util.OptionalLong.empty();
    }

    /** A new zero-filled tensor. */
    Tensor allocate(int... shape);

    void upload(float[] src, Tensor dst);

    float[] download(Tensor src);

    void fill(Tensor t, float value);

    void copy(Tensor src, Tensor dst);

    // ---- dense algebra ------------------------------------------------------------

    /** What a GEMM applies to its result before storing it. */
    enum Epilogue {
        NONE,
        BIAS,
        GELU,
        BIAS_GELU
    }

    /**
     * {@code c = alpha * op(a) op(b) + beta * c}, then the epilogue (bias added per column,
     * GELU(tanh) applied; with GELU, {@code preActivation} if non-null receives the value
     * before GELU). op(x) is x or xᵀ. Shapes are read as 2-D: c [m,n], op(a) [m,k], op(b) [k,n].
     */
    void gemm(
            boolean transA,
            boolean transB,
            float alpha,
            Tensor a,
            Tensor b,
            float beta,
            Tensor c,
            Epilogue epilogue,
            Tensor bias,
            Tensor preActivation);

    default void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        gemm(transA, transB, alpha, a, b, beta, c, Epilogue.NONE, null, null);
    }

    /**
     * {@code out = alpha * op(a) op(b) + addend}: a product added onto a residual stream kept elsewhere
     * ({@code addend}, out's shape; it may be {@code out} itself). A backend that can read the addend
     * in place in its GEMM saves the copy into {@code out}; this default copies.
     */
    default void gemmOnto(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, Tensor addend, Tensor out) {
        if (addend != out) copy(addend, out);
        gemm(transA, transB, alpha, a, b, 1f, out);
    }

    /**
     * The transformer block's attention onto a residual stream: {@code qkv = x wQkvᵀ} (viewed as [rows, S, 3,
     * heads, d]), the rotary embedding on q and k, attention within the segments into {@code attn} [rows·S,
     * heads·d], then {@code out = addend + alpha · attn wOutᵀ}. {@code qkv}, {@code attn} and {@code logSumExp}
     * [rows, heads, S] are its workspace. When {@code forBackward} they hold what the backward reads on
     * return; otherwise nothing reads them but the next step of this op, so a backend may keep them
     * elsewhere at its GEMM operand precision and leave them as they were (the CUDA bf16 mode: a bf16 qkv
     * rotated in place and a bf16 attention output, no fp32 passes over them).
     */
    default void attentionOnto(
            float alpha,
            Tensor x,
            Tensor wQkv,
            Tensor wOut,
            int heads,
            float[] invFreq,
            Segments segments,
            Tensor addend,
            Tensor out,
            Tensor qkv,
            Tensor attn,
            Tensor logSumExp,
            boolean forBackward) {
        int headDim = qkv.shape()[qkv.shape().length - 1];
        gemm(false, true, 1f, x, wQkv, 0f, qkv.reshape(segments.rows() * segments.seqLen(), 3 * heads * headDim));
        rotary(qkv, heads, invFreq, false);
        attention(qkv, heads, segments, attn.reshape(segments.rows(), segments.seqLen(), heads, headDim), logSumExp);
        gemmOnto(false, true, alpha, attn, wOut, addend, out);
    }

    /**
     * The transformer block's MLP onto a residual stream: {@code out = addend + alpha · gelu(x w1ᵀ) w2ᵀ}.
     * {@code activation} and {@code preActivation} [m, hidden] are its workspace. When {@code forBackward},
     * preActivation receives {@code x w1ᵀ} for the backward and activation holds gelu(x w1ᵀ) on return;
     * otherwise nothing reads the activation but w2's product, so a backend may keep it elsewhere at its
     * GEMM operand precision and leave both as they were (the CUDA bf16 mode: one bf16 write instead of
     * fp32 output, pre-activation and a bf16 copy), as {@link #attentionOnto} does.
     */
    default void mlpOnto(
            float alpha,
            Tensor x,
            Tensor w1,
            Tensor w2,
            Tensor addend,
            Tensor out,
            Tensor activation,
            Tensor preActivation,
            boolean forBackward) {
        gemm(false, true, 1f, x, w1, 0f, activation, Epilogue.GELU, null, forBackward ? preActivation : null);
        gemmOnto(false, true, alpha, activation, w2, addend, out);
    }

    /**
     * Runs {@code body} on this thread with the promise that {@code tensors} are not written meanwhile (the
     * weights, while sampling), so the backend may keep derived copies of them for the duration: the CUDA
     * backend keeps their bf16 GEMM operands instead of converting them in every product. This default
     * keeps none. A nested call adds nothing to the outer one's tensors.
     */
    default <T> T withReadOnly(Collection<Tensor> tensors, Supplier<T> body) {
        return body.get();
    }

    /**
     * A handle for a step queued again and again the same way ({@link StepGraph}), which this backend may
     * record once and replay. This default runs every body directly; the CUDA backend records CUDA graphs
     * when its options ask for them.
     */
    default StepGraph stepGraph() {
        return StepGraph.direct();
    }

    /** {@code y += alpha * x}. */
    void axpy(float alpha, Tensor x, Tensor y);

    /** {@code t *= alpha}. */
    void scale(Tensor t, float alpha);

    /** Σ t² in double precision. */
    double sumOfSquares(Tensor t);

    /**
     * {@link #sumOfSquares} of each tensor, each exactly as that op gives it (the gradient norm's terms). This
     * default calls it per tensor; a device backend reads all the sums back at once.
     */
    default double[] sumsOfSquares(List<Tensor> tensors) {
        double[] sums = new double[tensors.size()];
        for (int i = 0; i < sums.length; i++) sums[i] = sumOfSquares(tensors.get(i));
        return sums;
    }

    /**
     * {@code out[g, r, :] = in[g, r, :] * factors[g]} for a tensor of {@code factors.length}
     * equal groups of rows (per-sequence scalars such as 1/√var).
     */
    void scaleGroups(Tensor in, float[] factors, Tensor out);

    /** {@code out[g] = Σ a[g, …] · b[g, …]} over each of {@code groups} equal groups, in double. */
    double[] dotGroups(Tensor a, Tensor b, int groups);

    /** {@code x[g, r, :] += v[g, :]}: one vector added to every row of its group. */
    void addToGroupRows(Tensor v, Tensor x);

    /** {@code out[g, :] (+)= Σ_r x[g, r, :]}; accumulates when {@code accumulate}. */
    void sumGroupRows(Tensor x, Tensor out, boolean accumulate);

    // ---- normalisation, activation, position --------------------------------------

    /** RMSNorm over the last dimension: out = x / √(mean x² + eps) · weight; saves 1/rms per row. */
    void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor rstd);

    /** dx, and the weight's gradient accumulated into dWeight unless it is null (guidance wants none). */
    void rmsNormBackward(Tensor dOut, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dWeight);

    /** LayerNorm without bias over the last dimension; saves mean and 1/std per row. */
    void layerNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor mean, Tensor rstd);

    /** As {@link #rmsNormBackward}: dWeight may be null. */
    void layerNormBackward(Tensor dOut, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dx, Tensor dWeight);

    /** GELU with the tanh approximation. */
    void gelu(Tensor x, Tensor out);

    void geluBackward(Tensor dOut, Tensor x, Tensor dx);

    /**
     * Rotary embedding in place on the q and k parts of qkv laid out [rows, seqLen, 3, heads, headDim]
     * (non-interleaved halves; position = index along seqLen). {@code inverse} rotates back,
     * which is the backward.
     */
    void rotary(Tensor qkv, int heads, float[] invFreq, boolean inverse);

    // ---- attention ----------------------------------------------------------------

    /**
     * Non-causal softmax(q kᵀ/√d) v within each row's segments. qkv [rows, S, 3, H, d],
     * out [rows, S, H, d]; saves the log-sum-exp [rows, H, S] for the backward.
     */
    void attention(Tensor qkv, int heads, Segments segments, Tensor out, Tensor logSumExp);

    void attentionBackward(
            Tensor dOut, Tensor qkv, Tensor out, Tensor logSumExp, int heads, Segments segments, Tensor dqkv);

    // ---- output head --------------------------------------------------------------

    /** Row-wise softmax over the last dimension. */
    void softmax(Tensor logits, Tensor probs);

    /**
     * Per row of the last dimension, the first index of its largest value, as the scan
     * {@code best = 0; if (x[j] > x[best]) best = j} finds it (NaNs never win unless in column 0):
     * the sampler's decoded tokens, without bringing the logits to the host.
     */
    int[] argmaxRows(Tensor t);

    /**
     * Cross-entropy of each row's logits against {@code targets[row]}: returns −log p per row
     * (double), computed stably.
     */
    double[] crossEntropy(Tensor logits, int[] targets);

    /**
     * {@code dLogits[row] += rowScale[row / rowsPerScale] · (probs[row] − onehot(targets[row]))}.
     */
    void crossEntropyBackward(Tensor probs, int[] targets, float[] rowScale, Tensor dLogits);

    /**
     * Softmax backward: {@code dLogits (+)= p ⊙ (dProbs − Σ p ⊙ dProbs)} row-wise; the
     * result is added to dLogits when {@code accumulate}.
     */
    void softmaxBackward(Tensor probs, Tensor dProbs, Tensor dLogits, boolean accumulate);

    // ---- embeddings ---------------------------------------------------------------

    /** {@code out[i, :] = table[ids[i], :]}. */
    void gather(Tensor table, int[] ids, Tensor out);

    /** {@code dTable[ids[i], :] += dOut[i, :]}. */
    void scatterAdd(Tensor dOut, int[] ids, Tensor dTable);

    // ---- optimiser ----------------------------------------------------------------

    /**
     * One AdamW step with bias correction at {@code step} (1-based) and decoupled weight
     * decay: p ← p·(1 − decay) − lr · m̂/(√v̂ + eps).
     */
    void adamW(
            Tensor param,
            Tensor grad,
            Tensor m,
            Tensor v,
            float lr,
            float beta1,
            float beta2,
            float eps,
            float decay,
            int step);

    /** One parameter's tensors for the many-parameter {@link #adamW(List, double[], double[], double, float, float, float, int)}. */
    record AdamWTensors(Tensor param, Tensor grad, Tensor m, Tensor v) {
        /** Refuses lists of per-parameter values that do not match the tensors one for one. */
        public static void requireMatching(List<AdamWTensors> tensors, double[] lrScale, double[] decayPerLr) {
            if (lrScale.length != tensors.size() || decayPerLr.length != tensors.size()) {
                throw new IllegalArgumentException("adamW: " + tensors.size() + " parameters, " + lrScale.length
                        + " lrScale and " + decayPerLr.length + " decayPerLr values");
            }
        }
    }

    /**
     * {@link #adamW(Tensor, Tensor, Tensor, Tensor, float, float, float, float, float, int) adamW} on many
     * parameters at once, parameter i with {@code lr = (float) (lrScale[i]·lrFactor)} and
     * {@code decay = (float) (lrScale[i]·lrFactor·decayPerLr[i])}, the products in double: exactly what that op
     * gives called once per parameter with those values, which is what this default does. A device backend
     * updates them all in one launch: the per-parameter scales are fixed for a run (µP's learning rate per
     * group, the weight decay per unit of learning rate), only the schedule's factor changes from step to step.
     */
    default void adamW(
            List<AdamWTensors> tensors,
            double[] lrScale,
            double[] decayPerLr,
            double lrFactor,
            float beta1,
            float beta2,
            float eps,
            int step) {
        AdamWTensors.requireMatching(tensors, lrScale, decayPerLr);
        for (int i = 0; i < tensors.size(); i++) {
            AdamWTensors t = tensors.get(i);
            double lr = lrScale[i] * lrFactor;
            adamW(t.param(), t.grad(), t.m(), t.v(), (float) lr, beta1, beta2, eps, (float) (lr * decayPerLr[i]), step);
        }
    }

    @Override
    default void close() {}
}

package plaid.backend.cuda;

import plaid.backend.Segments;
import plaid.backend.cuda.bind.Cublas;

/**
 * A transformer block's two halves with no backward after them, in the bf16 mode: their
 * activations stay in bf16 only, each written by the op before and read by the op after (no fp32
 * copy, no conversion pass). Each method returns false, having queued nothing that matters, where
 * its path does not apply (other options, shapes, or cuBLASLt without an algorithm); the backend
 * then runs the general path, which redoes the half.
 */
final class FusedBlocks {
    private final CudaDevice device;
    private final Launcher launcher;
    private final DeviceMemory memory;
    private final LtMatmul lt;
    private final Bf16Operands bf16;
    private final AttentionKernels attention;
    /** qkv and the attention's output ({@link #attentionOnto}), the MLP's activation ({@link #mlpOnto}), in bf16. */
    private final DeviceMemory.Scratch qkv16, attention16, mlpActivation16;

    FusedBlocks(
            CudaDevice device,
            Launcher launcher,
            DeviceMemory memory,
            LtMatmul lt,
            Bf16Operands bf16,
            AttentionKernels attention) {
        this.device = device;
        this.launcher = launcher;
        this.memory = memory;
        this.lt = lt;
        this.bf16 = bf16;
        this.attention = attention;
        this.qkv16 = memory.scratch();
        this.attention16 = memory.scratch();
        this.mlpActivation16 = memory.scratch();
    }

    /**
     * The QKV product writes bf16, rotated in place (rotary_bf16), the flash attention reads that and
     * writes its output in bf16 only, and the output product reads it, adding onto the addend in
     * place; qkv and attn are not written.
     */
    boolean attentionOnto(
            CudaOptions options,
            float alpha,
            CudaTensor cx,
            CudaTensor cQkv,
            CudaTensor cOut,
            int heads,
            float[] invFreq,
            Segments segments,
            CudaTensor cAddend,
            CudaTensor co,
            CudaTensor cq,
            CudaTensor ca,
            CudaTensor logSumExp) {
        int rows = segments.rows(), seqLen = segments.seqLen(), tokens = rows * seqLen;
        int d = cq.lastDim(), width = heads * d, k = cx.lastDim(), n = Math.toIntExact(cOut.rows());
        boolean shapesFit = tokens > 0
                && cq.numel() == (long) tokens * 3 * width
                && ca.numel() == (long) tokens * width
                && cx.numel() == (long) tokens * k
                && cQkv.numel() == 3L * width * k
                && cOut.lastDim() == width
                && co.numel() == (long) tokens * n
                && cAddend.numel() == co.numel()
                && invFreq.length == d / 2
                && logSumExp.numel() == (long) rows * heads * seqLen;
        if (!(options.fusedForwardBlocks()
                && options.tensorCoreAttention()
                && options.flashAttentionFromBf16Copy()
                && shapesFit
                && AttentionKernels.flashFits(d, rows * heads, cq, ca)
                && Bf16Operands.pay(tokens, 3 * width, k)
                && Bf16Operands.pay(tokens, n, width))) {
            return false;
        }
        device.bind();
        long qkvCopy = qkv16.reserve((long) tokens * 3 * width * 2);
        if (!lt.matmul(
                false,
                true,
                tokens,
                3 * width,
                k,
                1f,
                LtMatmul.Operands.bf16(() -> bf16.pair(cx, cQkv)),
                0f,
                qkvCopy,
                qkvCopy,
                Cublas.CUDA_R_16BF,
                null,
                false,
                null,
                Matmul.BF16_OPERANDS_PROFILE_KEY)) {
            return false;
        }
        long[] frequencies = memory.stage(DeviceMemory.bits(invFreq));
        launcher.elementwise(
                Kernel.ROTARY_BF16, (long) tokens * (d / 2), seqLen, heads, d / 2, frequencies[0], qkvCopy);
        AttentionKernels.SegmentBounds bounds = attention.stage(segments);
        long attentionCopy = attention16.reserve((long) tokens * width * 2);
        launcher.launch(
                Kernel.ATTENTION_FORWARD_FLASH_BF16,
                AttentionKernels.flashTiles(seqLen),
                rows * heads,
                0,
                seqLen,
                heads,
                d,
                (float) (1.0 / Math.sqrt(d)),
                bounds.starts(),
                bounds.ends(),
                qkvCopy,
                0L,
                attentionCopy,
                logSumExp);
        return lt.matmul(
                false,
                true,
                tokens,
                n,
                width,
                alpha,
                LtMatmul.Operands.bf16(() -> new long[] {attentionCopy, bf16.operand(cOut, bf16.scratchB)}),
                1f,
                cAddend.address(),
                co.address(),
                Cublas.CUDA_R_32F,
                null,
                false,
                null,
                Matmul.BF16_OPERANDS_PROFILE_KEY);
    }

    /**
     * fc1's product with GELU in its epilogue writes the activation as bf16 only (2 bytes an element
     * instead of fp32 output, fp32 pre-activation and a bf16 conversion), and fc2 reads it as its
     * operand, adding onto the addend in place.
     */
    boolean mlpOnto(
            CudaOptions options,
            float alpha,
            CudaTensor cx,
            CudaTensor c1,
            CudaTensor c2,
            CudaTensor cAddend,
            CudaTensor cOut,
            CudaTensor activation) {
        int m = Math.toIntExact(cx.rows()),
                k = cx.lastDim(),
                hidden = Math.toIntExact(c1.rows()),
                n = Math.toIntExact(c2.rows());
        boolean shapesFit = c1.lastDim() == k
                && c2.lastDim() == hidden
                && activation.numel() == (long) m * hidden
                && cOut.numel() == (long) m * n
                && cAddend.numel() == cOut.numel()
                && m > 0;
        if (!(options.fusedForwardBlocks()
                && shapesFit
                && Bf16Operands.pay(m, hidden, k)
                && Bf16Operands.pay(m, n, hidden))) return false;
        device.bind();
        long activation16 = mlpActivation16.reserve((long) m * hidden * 2);
        return lt.matmul(
                        false,
                        true,
                        m,
                        hidden,
                        k,
                        1f,
                        LtMatmul.Operands.bf16(() -> bf16.pair(cx, c1)),
                        0f,
                        activation16,
                        activation16,
                        Cublas.CUDA_R_16BF,
                        null,
                        true,
                        null,
                        Matmul.BF16_OPERANDS_PROFILE_KEY)
                && lt.matmul(
                        false,
                        true,
                        m,
                        n,
                        hidden,
                        alpha,
                        LtMatmul.Operands.bf16(() -> new long[] {activation16, bf16.operand(c2, bf16.scratchB)}),
                        1f,
                        cAddend.address(),
                        cOut.address(),
                        Cublas.CUDA_R_32F,
                        null,
                        false,
                        null,
                        Matmul.BF16_OPERANDS_PROFILE_KEY);
    }

    void free() {
        qkv16.free();
        attention16.free();
        mlpActivation16.free();
    }
}

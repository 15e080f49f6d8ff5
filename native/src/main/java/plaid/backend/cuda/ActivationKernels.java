package plaid.backend.cuda;

import static plaid.backend.cuda.CudaBackend.cuda;
import static plaid.backend.cuda.CudaTensor.requireSameSize;

import java.util.Arrays;
import plaid.backend.Tensor;

/**
 * GELU and its backward (activations.cu), and the rotary position embedding (rotary.cu); each makes the bf16 copy
 * of its result when the products that read it next want one ({@link Bf16Handoff}).
 */
final class ActivationKernels {
    private final Launcher launcher;
    private final DeviceMemory memory;
    private final Bf16Handoff handoff;

    ActivationKernels(Launcher launcher, DeviceMemory memory, Bf16Handoff handoff) {
        this.launcher = launcher;
        this.memory = memory;
        this.handoff = handoff;
    }

    void gelu(Tensor x, Tensor out) {
        CudaTensor cx = cuda(x), co = cuda(out);
        requireSameSize(cx, co, "gelu");
        launcher.elementwise(Kernel.GELU, cx.numel(), cx, co);
    }

    void geluBackward(CudaOptions options, Tensor dOut, Tensor x, Tensor dx) {
        CudaTensor cx = cuda(x), cd = cuda(dx);
        long dx16 = handoff.reserve(options, cd); // the MLP's gradient goes to fc1's products next
        launcher.elementwise(Kernel.GELU_BACKWARD, cx.numel(), cuda(dOut), cx, cd, dx16);
        handoff.made(cd, dx16);
    }

    void rotary(CudaOptions options, Tensor qkv, int heads, float[] invFreq, boolean inverse) {
        CudaTensor c = cuda(qkv);
        int[] s = c.shape();
        if (s.length != 5)
            throw new IllegalArgumentException(
                    "rotary: qkv must be [rows, seqLen, 3, heads, headDim], got " + Arrays.toString(s));
        int seqLen = s[1], headDim = s[4], half = headDim / 2;
        if (invFreq.length != half)
            throw new IllegalArgumentException("rotary: " + invFreq.length + " frequencies for head dim " + headDim);
        long positions = c.numel() / (3L * heads * headDim);
        long[] staged = memory.stage(DeviceMemory.bits(invFreq));
        // the forward rotation's result is the flash attention's input, the inverse's (the gradient) the QKV
        // weight's products': their bf16 copy is made here
        long qkv16 = inverse || options.flashAttention() && options.flashAttentionFromBf16Copy()
                ? handoff.reserve(options, c)
                : 0;
        launcher.elementwise(
                Kernel.ROTARY, positions * half, seqLen, heads, half, staged[0], inverse ? -1f : 1f, c, qkv16);
        handoff.made(c, qkv16);
    }
}

package plaid.backend.cpu;

import static plaid.backend.cpu.CpuBackend.cpu;
import static plaid.backend.cpu.CpuBackend.parallelFor;
import static plaid.backend.cpu.CpuBackend.requireSameSize;

import java.util.Arrays;
import plaid.backend.Tensor;

/** GELU (tanh approximation) and its backward, and the rotary position embedding, on the CPU. */
final class ActivationOps {
    private static final double GELU_C = Math.sqrt(2.0 / Math.PI);

    private ActivationOps() {}

    static float gelu(float x) {
        double u = GELU_C * (x + 0.044715 * x * x * x);
        return (float) (0.5 * x * (1 + Math.tanh(u)));
    }

    static void gelu(Tensor x, Tensor out) {
        CpuTensor cx = cpu(x), co = cpu(out);
        requireSameSize(cx, co, "gelu");
        int n = cx.size();
        int chunk = 4096;
        parallelFor((n + chunk - 1) / chunk, chunk, c -> {
            for (int i = c * chunk; i < Math.min(n, (c + 1) * chunk); i++)
                co.data[co.offset + i] = gelu(cx.data[cx.offset + i]);
        });
    }

    static void geluBackward(Tensor dOut, Tensor x, Tensor dx) {
        CpuTensor cg = cpu(dOut), cx = cpu(x), cdx = cpu(dx);
        int n = cx.size();
        int chunk = 4096;
        parallelFor((n + chunk - 1) / chunk, chunk, c -> {
            for (int i = c * chunk; i < Math.min(n, (c + 1) * chunk); i++) {
                double v = cx.data[cx.offset + i];
                double u = GELU_C * (v + 0.044715 * v * v * v);
                double th = Math.tanh(u);
                double du = GELU_C * (1 + 3 * 0.044715 * v * v);
                double grad = 0.5 * (1 + th) + 0.5 * v * (1 - th * th) * du;
                cdx.data[cdx.offset + i] = (float) (cg.data[cg.offset + i] * grad);
            }
        });
    }

    static void rotary(Tensor qkv, int heads, float[] invFreq, boolean inverse) {
        CpuTensor c = cpu(qkv);
        int[] s = c.shape();
        if (s.length != 5)
            throw new IllegalArgumentException(
                    "rotary: qkv must be [rows, seqLen, 3, heads, headDim], got " + Arrays.toString(s));
        int seqLen = s[1];
        int headDim = s[s.length - 1], half = headDim / 2;
        if (invFreq.length != half)
            throw new IllegalArgumentException("rotary: " + invFreq.length + " frequencies for head dim " + headDim);
        int perPos = 3 * heads * headDim;
        int positions = c.size() / perPos;
        float sign = inverse ? -1f : 1f;
        parallelFor(positions, perPos, r -> {
            int pos = r % seqLen;
            int base = c.offset + r * perPos;
            for (int j = 0; j < half; j++) {
                // angle rounded to float as the original's float32 frequency table
                float angle = pos * invFreq[j];
                float cos = (float) Math.cos(angle), sin = sign * (float) Math.sin(angle);
                for (int part = 0; part < 2; part++) { // q and k; v is left alone
                    for (int h = 0; h < heads; h++) {
                        int o = base + (part * heads + h) * headDim;
                        float x1 = c.data[o + j], x2 = c.data[o + j + half];
                        c.data[o + j] = x1 * cos - x2 * sin;
                        c.data[o + j + half] = x2 * cos + x1 * sin;
                    }
                }
            }
        });
    }
}

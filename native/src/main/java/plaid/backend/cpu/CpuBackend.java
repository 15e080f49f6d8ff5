package plaid.backend.cpu;

import java.util.Arrays;
import java.util.stream.IntStream;
import plaid.backend.ComputeBackend;
import plaid.backend.MatmulPrecision;
import plaid.backend.Segments;
import plaid.backend.Tensor;

/**
 * The reference backend: plain Java on the CPU, parallel over rows with the common
 * fork-join pool. Accumulations that decide parity (norm statistics, softmax sums, dot
 * products of attention) run in double; GEMM and attention's inner loops in float with the
 * Vector API ({@link Gemm}, {@link Attention}). This class is the face and the dense algebra; the
 * other op families are classes of their own, as the CUDA backend's kernels are: {@link NormOps},
 * {@link ActivationOps}, {@link Attention}, {@link HeadOps} and {@link OptimizerOps}.
 */
public final class CpuBackend implements ComputeBackend {

    @Override
    public String name() {
        return "cpu";
    }

    static CpuTensor cpu(Tensor t) {
        if (t instanceof CpuTensor c) return c;
        throw new IllegalArgumentException("tensor " + t + " does not belong to the CPU backend");
    }

    static void requireSameSize(CpuTensor a, CpuTensor b, String what) {
        if (a.size() != b.size()) {
            throw new IllegalArgumentException(
                    what + ": sizes differ, " + Arrays.toString(a.shape()) + " vs " + Arrays.toString(b.shape()));
        }
    }

    /** Runs body(i) for i in [0, n), in parallel when the work is big enough to pay for it. */
    static void parallelFor(int n, long workPerItem, java.util.function.IntConsumer body) {
        if ((long) n * workPerItem < 32_768 || n == 1) {
            for (int i = 0; i < n; i++) body.accept(i);
        } else {
            IntStream.range(0, n).parallel().forEach(body);
        }
    }

    // ---- memory -------------------------------------------------------------------

    @Override
    public Tensor allocate(int... shape) {
        long n = 1;
        for (int s : shape) n *= s;
        if (n > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("tensor " + Arrays.toString(shape) + " too large for the CPU backend");
        return new CpuTensor(new float[(int) n], 0, shape);
    }

    @Override
    public void upload(float[] src, Tensor dst) {
        CpuTensor d = cpu(dst);
        if (src.length != d.size()) throw new IllegalArgumentException("upload: " + src.length + " values into " + d);
        System.arraycopy(src, 0, d.data, d.offset, src.length);
    }

    @Override
    public float[] download(Tensor src) {
        CpuTensor s = cpu(src);
        return Arrays.copyOfRange(s.data, s.offset, s.offset + s.size());
    }

    @Override
    public void fill(Tensor t, float value) {
        CpuTensor c = cpu(t);
        Arrays.fill(c.data, c.offset, c.offset + c.size(), value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CpuTensor s = cpu(src), d = cpu(dst);
        requireSameSize(s, d, "copy");
        System.arraycopy(s.data, s.offset, d.data, d.offset, s.size());
    }

    // ---- dense algebra ------------------------------------------------------------

    @Override
    public void gemm(
            boolean transA,
            boolean transB,
            float alpha,
            Tensor a,
            Tensor b,
            float beta,
            Tensor c,
            Epilogue epilogue,
            Tensor bias,
            Tensor preActivation) {
        CpuTensor ca = cpu(a), cb = cpu(b), cc = cpu(c);
        int m = rowsOf(cc), n = cc.lastDim();
        int k = transA ? rowsOf(ca) : ca.lastDim();
        if ((long) m * k != ca.size())
            throw new IllegalArgumentException("gemm: a " + ca + " does not fit c " + cc + " with k " + k);
        if ((long) k * n != cb.size())
            throw new IllegalArgumentException("gemm: b " + cb + " is not " + (transB ? n + "x" + k : k + "x" + n));
        if (MatmulPrecision.tf32()) {
            Gemm.multiply(
                    transA,
                    transB,
                    m,
                    n,
                    k,
                    alpha,
                    MatmulPrecision.roundedCopy(ca.data, ca.offset, (int) ca.size()),
                    0,
                    MatmulPrecision.roundedCopy(cb.data, cb.offset, (int) cb.size()),
                    0,
                    beta,
                    cc.data,
                    cc.offset);
        } else {
            Gemm.multiply(
                    transA, transB, m, n, k, alpha, ca.data, ca.offset, cb.data, cb.offset, beta, cc.data, cc.offset);
        }
        boolean hasBias = epilogue == Epilogue.BIAS || epilogue == Epilogue.BIAS_GELU;
        boolean hasGelu = epilogue == Epilogue.GELU || epilogue == Epilogue.BIAS_GELU;
        if (hasBias) {
            CpuTensor cbias = cpu(bias);
            if (cbias.size() != n)
                throw new IllegalArgumentException("gemm: bias " + cbias + " needs " + n + " values");
            parallelFor(m, n, i -> {
                int row = cc.offset + i * n;
                for (int j = 0; j < n; j++) cc.data[row + j] += cbias.data[cbias.offset + j];
            });
        }
        if (hasGelu) {
            if (preActivation != null) copy(cc, preActivation);
            gelu(cc, cc);
        }
    }

    private static int rowsOf(CpuTensor t) {
        return t.size() / Math.max(1, t.lastDim());
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        CpuTensor cx = cpu(x), cy = cpu(y);
        requireSameSize(cx, cy, "axpy");
        int n = cx.size();
        for (int i = 0; i < n; i++) cy.data[cy.offset + i] += alpha * cx.data[cx.offset + i];
    }

    @Override
    public void scale(Tensor t, float alpha) {
        CpuTensor c = cpu(t);
        for (int i = 0; i < c.size(); i++) c.data[c.offset + i] *= alpha;
    }

    @Override
    public double sumOfSquares(Tensor t) {
        CpuTensor c = cpu(t);
        double s = 0;
        for (int i = 0; i < c.size(); i++) {
            double v = c.data[c.offset + i];
            s += v * v;
        }
        return s;
    }

    private static int groupSize(CpuTensor t, int groups) {
        if (groups <= 0 || t.size() % groups != 0)
            throw new IllegalArgumentException(t + " does not split into " + groups + " groups");
        return t.size() / groups;
    }

    @Override
    public void scaleGroups(Tensor in, float[] factors, Tensor out) {
        CpuTensor ci = cpu(in), co = cpu(out);
        requireSameSize(ci, co, "scaleGroups");
        int g = groupSize(ci, factors.length);
        for (int b = 0; b < factors.length; b++) {
            float f = factors[b];
            for (int i = b * g; i < (b + 1) * g; i++) co.data[co.offset + i] = ci.data[ci.offset + i] * f;
        }
    }

    @Override
    public double[] dotGroups(Tensor a, Tensor b, int groups) {
        CpuTensor ca = cpu(a), cb = cpu(b);
        requireSameSize(ca, cb, "dotGroups");
        int g = groupSize(ca, groups);
        double[] out = new double[groups];
        for (int k = 0; k < groups; k++) {
            double s = 0;
            for (int i = k * g; i < (k + 1) * g; i++) s += (double) ca.data[ca.offset + i] * cb.data[cb.offset + i];
            out[k] = s;
        }
        return out;
    }

    @Override
    public void addToGroupRows(Tensor v, Tensor x) {
        CpuTensor cv = cpu(v), cx = cpu(x);
        int n = cv.lastDim();
        int groups = cv.size() / n;
        int rowsPerGroup = groupSize(cx, groups) / n;
        parallelFor(groups * rowsPerGroup, n, r -> {
            int g = r / rowsPerGroup;
            int xo = cx.offset + r * n, vo = cv.offset + g * n;
            for (int j = 0; j < n; j++) cx.data[xo + j] += cv.data[vo + j];
        });
    }

    @Override
    public void sumGroupRows(Tensor x, Tensor out, boolean accumulate) {
        CpuTensor cx = cpu(x), co = cpu(out);
        int n = co.lastDim();
        int groups = co.size() / n;
        int rowsPerGroup = groupSize(cx, groups) / n;
        parallelFor(groups, (long) rowsPerGroup * n, g -> {
            double[] acc = new double[n];
            for (int r = 0; r < rowsPerGroup; r++) {
                int xo = cx.offset + (g * rowsPerGroup + r) * n;
                for (int j = 0; j < n; j++) acc[j] += cx.data[xo + j];
            }
            int oo = co.offset + g * n;
            for (int j = 0; j < n; j++) co.data[oo + j] = (float) ((accumulate ? co.data[oo + j] : 0) + acc[j]);
        });
    }

    // ---- normalisation, activation, position --------------------------------------

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor rstd) {
        NormOps.rmsNorm(x, weight, eps, out, rstd);
    }

    @Override
    public void rmsNormBackward(Tensor dOut, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dWeight) {
        NormOps.rmsNormBackward(dOut, x, weight, rstd, dx, dWeight);
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor mean, Tensor rstd) {
        NormOps.layerNorm(x, weight, eps, out, mean, rstd);
    }

    @Override
    public void layerNormBackward(
            Tensor dOut, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dx, Tensor dWeight) {
        NormOps.layerNormBackward(dOut, x, weight, mean, rstd, dx, dWeight);
    }

    @Override
    public void gelu(Tensor x, Tensor out) {
        ActivationOps.gelu(x, out);
    }

    @Override
    public void geluBackward(Tensor dOut, Tensor x, Tensor dx) {
        ActivationOps.geluBackward(dOut, x, dx);
    }

    @Override
    public void rotary(Tensor qkv, int heads, float[] invFreq, boolean inverse) {
        ActivationOps.rotary(qkv, heads, invFreq, inverse);
    }

    // ---- attention ----------------------------------------------------------------

    @Override
    public void attention(Tensor qkv, int heads, Segments segments, Tensor out, Tensor logSumExp) {
        Attention.forward(cpu(qkv), heads, segments, cpu(out), cpu(logSumExp), MatmulPrecision.tf32());
    }

    @Override
    public void attentionBackward(
            Tensor dOut, Tensor qkv, Tensor out, Tensor logSumExp, int heads, Segments segments, Tensor dqkv) {
        Attention.backward(cpu(dOut), cpu(qkv), cpu(out), cpu(logSumExp), heads, segments, cpu(dqkv));
    }

    // ---- output head --------------------------------------------------------------

    @Override
    public int[] argmaxRows(Tensor t) {
        return HeadOps.argmaxRows(t);
    }

    @Override
    public void softmax(Tensor logits, Tensor probs) {
        HeadOps.softmax(logits, probs);
    }

    @Override
    public double[] crossEntropy(Tensor logits, int[] targets) {
        return HeadOps.crossEntropy(logits, targets);
    }

    @Override
    public void crossEntropyBackward(Tensor probs, int[] targets, float[] rowScale, Tensor dLogits) {
        HeadOps.crossEntropyBackward(probs, targets, rowScale, dLogits);
    }

    @Override
    public void softmaxBackward(Tensor probs, Tensor dProbs, Tensor dLogits, boolean accumulate) {
        HeadOps.softmaxBackward(probs, dProbs, dLogits, accumulate);
    }

    // ---- embeddings ---------------------------------------------------------------

    @Override
    public void gather(Tensor table, int[] ids, Tensor out) {
        HeadOps.gather(table, ids, out);
    }

    @Override
    public void scatterAdd(Tensor dOut, int[] ids, Tensor dTable) {
        HeadOps.scatterAdd(dOut, ids, dTable);
    }

    // ---- optimiser ----------------------------------------------------------------

    @Override
    public void adamW(
            Tensor param,
            Tensor grad,
            Tensor m,
            Tensor v,
            float lr,
            float beta1,
            float beta2,
            float eps,
            float decay,
            int step) {
        OptimizerOps.adamW(param, grad, m, v, lr, beta1, beta2, eps, decay, step);
    }
}

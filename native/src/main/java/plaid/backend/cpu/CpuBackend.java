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
 * Vector API ({@link Gemm}, {@link Attention}).
 */
public final class CpuBackend implements ComputeBackend {

    @Override
    public String name() {
        return "cpu";
    }

    private static CpuTensor cpu(Tensor t) {
        if (t instanceof CpuTensor c) return c;
        throw new IllegalArgumentException("tensor " + t + " does not belong to the CPU backend");
    }

    private static void requireSameSize(CpuTensor a, CpuTensor b, String what) {
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
        CpuTensor cx = cpu(x), cw = cpu(weight), co = cpu(out), cr = cpu(rstd);
        int d = cx.lastDim(), rows = cx.size() / d;
        parallelFor(rows, d, r -> {
            int xo = cx.offset + r * d;
            double ss = 0;
            for (int j = 0; j < d; j++) ss += (double) cx.data[xo + j] * cx.data[xo + j];
            float inv = (float) (1.0 / Math.sqrt(ss / d + eps));
            cr.data[cr.offset + r] = inv;
            int oo = co.offset + r * d;
            for (int j = 0; j < d; j++) co.data[oo + j] = cx.data[xo + j] * inv * cw.data[cw.offset + j];
        });
    }

    @Override
    public void rmsNormBackward(Tensor dOut, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dWeight) {
        CpuTensor cg = cpu(dOut), cx = cpu(x), cw = cpu(weight), cr = cpu(rstd), cdx = cpu(dx);
        int d = cx.lastDim(), rows = cx.size() / d;
        // y = x·r·w with r = (mean x² + eps)^-½:  dx = r·(g⊙w) − x·r³·mean(g⊙w⊙x)
        parallelFor(rows, d, r -> {
            int o = r * d;
            double inv = cr.data[cr.offset + r];
            double dot = 0;
            for (int j = 0; j < d; j++)
                dot += (double) cg.data[cg.offset + o + j] * cw.data[cw.offset + j] * cx.data[cx.offset + o + j];
            double c = inv * inv * inv * dot / d;
            for (int j = 0; j < d; j++) {
                double gw = (double) cg.data[cg.offset + o + j] * cw.data[cw.offset + j];
                cdx.data[cdx.offset + o + j] = (float) (inv * gw - cx.data[cx.offset + o + j] * c);
            }
        });
        if (dWeight != null) accumulateNormWeightGrad(cg, cx, cr, null, cpu(dWeight), d, rows);
    }

    /** dWeight[j] += Σ_rows dOut·x̂ with x̂ = (x − mean)·rstd (mean absent for RMSNorm). */
    private static void accumulateNormWeightGrad(
            CpuTensor cg, CpuTensor cx, CpuTensor cr, CpuTensor cmean, CpuTensor cdw, int d, int rows) {
        int chunks = Math.min(rows, 4 * Runtime.getRuntime().availableProcessors());
        double[][] partial = new double[chunks][d];
        parallelFor(chunks, (long) rows * d / chunks, c -> {
            double[] acc = partial[c];
            for (int r = (int) ((long) rows * c / chunks); r < (int) ((long) rows * (c + 1) / chunks); r++) {
                double inv = cr.data[cr.offset + r];
                double mu = cmean == null ? 0 : cmean.data[cmean.offset + r];
                int o = r * d;
                for (int j = 0; j < d; j++)
                    acc[j] += cg.data[cg.offset + o + j] * (cx.data[cx.offset + o + j] - mu) * inv;
            }
        });
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (double[] p : partial) s += p[j];
            cdw.data[cdw.offset + j] += (float) s;
        }
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor mean, Tensor rstd) {
        CpuTensor cx = cpu(x), cw = cpu(weight), co = cpu(out), cm = cpu(mean), cr = cpu(rstd);
        int d = cx.lastDim(), rows = cx.size() / d;
        parallelFor(rows, d, r -> {
            int xo = cx.offset + r * d;
            double mu = 0;
            for (int j = 0; j < d; j++) mu += cx.data[xo + j];
            mu /= d;
            double var = 0;
            for (int j = 0; j < d; j++) {
                double c = cx.data[xo + j] - mu;
                var += c * c;
            }
            double inv = 1.0 / Math.sqrt(var / d + eps);
            cm.data[cm.offset + r] = (float) mu;
            cr.data[cr.offset + r] = (float) inv;
            int oo = co.offset + r * d;
            for (int j = 0; j < d; j++)
                co.data[oo + j] = (float) ((cx.data[xo + j] - mu) * inv) * cw.data[cw.offset + j];
        });
    }

    @Override
    public void layerNormBackward(
            Tensor dOut, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dx, Tensor dWeight) {
        CpuTensor cg = cpu(dOut), cx = cpu(x), cw = cpu(weight), cm = cpu(mean), cr = cpu(rstd), cdx = cpu(dx);
        int d = cx.lastDim(), rows = cx.size() / d;
        // dx = r·(gw − mean(gw) − x̂·mean(gw⊙x̂)),  gw = dOut⊙w
        parallelFor(rows, d, r -> {
            int o = r * d;
            double inv = cr.data[cr.offset + r], mu = cm.data[cm.offset + r];
            double sumG = 0, sumGX = 0;
            for (int j = 0; j < d; j++) {
                double gw = (double) cg.data[cg.offset + o + j] * cw.data[cw.offset + j];
                sumG += gw;
                sumGX += gw * (cx.data[cx.offset + o + j] - mu) * inv;
            }
            double meanG = sumG / d, meanGX = sumGX / d;
            for (int j = 0; j < d; j++) {
                double gw = (double) cg.data[cg.offset + o + j] * cw.data[cw.offset + j];
                double xh = (cx.data[cx.offset + o + j] - mu) * inv;
                cdx.data[cdx.offset + o + j] = (float) (inv * (gw - meanG - xh * meanGX));
            }
        });
        if (dWeight != null) accumulateNormWeightGrad(cg, cx, cr, cm, cpu(dWeight), d, rows);
    }

    private static final double GELU_C = Math.sqrt(2.0 / Math.PI);

    static float gelu(float x) {
        double u = GELU_C * (x + 0.044715 * x * x * x);
        return (float) (0.5 * x * (1 + Math.tanh(u)));
    }

    @Override
    public void gelu(Tensor x, Tensor out) {
        CpuTensor cx = cpu(x), co = cpu(out);
        requireSameSize(cx, co, "gelu");
        int n = cx.size();
        int chunk = 4096;
        parallelFor((n + chunk - 1) / chunk, chunk, c -> {
            for (int i = c * chunk; i < Math.min(n, (c + 1) * chunk); i++)
                co.data[co.offset + i] = gelu(cx.data[cx.offset + i]);
        });
    }

    @Override
    public void geluBackward(Tensor dOut, Tensor x, Tensor dx) {
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

    @Override
    public void rotary(Tensor qkv, int heads, float[] invFreq, boolean inverse) {
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
        CpuTensor c = cpu(t);
        int width = c.lastDim(), rows = width == 0 ? 0 : c.size() / width;
        int[] best = new int[rows];
        parallelFor(rows, width, r -> {
            int base = c.offset + r * width, at = 0;
            for (int j = 1; j < width; j++) if (c.data[base + j] > c.data[base + at]) at = j;
            best[r] = at;
        });
        return best;
    }

    @Override
    public void softmax(Tensor logits, Tensor probs) {
        CpuTensor cl = cpu(logits), cp = cpu(probs);
        requireSameSize(cl, cp, "softmax");
        int v = cl.lastDim(), rows = cl.size() / v;
        parallelFor(rows, v, r -> {
            int lo = cl.offset + r * v, po = cp.offset + r * v;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) max = Math.max(max, cl.data[lo + j]);
            double sum = 0;
            for (int j = 0; j < v; j++) {
                float e = (float) Math.exp(cl.data[lo + j] - max);
                cp.data[po + j] = e;
                sum += e;
            }
            float inv = (float) (1.0 / sum);
            for (int j = 0; j < v; j++) cp.data[po + j] *= inv;
        });
    }

    @Override
    public double[] crossEntropy(Tensor logits, int[] targets) {
        CpuTensor cl = cpu(logits);
        int v = cl.lastDim(), rows = cl.size() / v;
        if (targets.length != rows)
            throw new IllegalArgumentException("crossEntropy: " + targets.length + " targets for " + rows + " rows");
        double[] loss = new double[rows];
        parallelFor(rows, v, r -> {
            int lo = cl.offset + r * v;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) max = Math.max(max, cl.data[lo + j]);
            double sum = 0;
            for (int j = 0; j < v; j++) sum += Math.exp(cl.data[lo + j] - max);
            loss[r] = max + Math.log(sum) - cl.data[lo + checkTarget(targets[r], v)];
        });
        return loss;
    }

    private static int checkTarget(int target, int vocab) {
        if (target < 0 || target >= vocab)
            throw new IllegalArgumentException("target id " + target + " outside vocabulary of " + vocab);
        return target;
    }

    @Override
    public void crossEntropyBackward(Tensor probs, int[] targets, float[] rowScale, Tensor dLogits) {
        CpuTensor cp = cpu(probs), cd = cpu(dLogits);
        int v = cp.lastDim(), rows = cp.size() / v;
        int rowsPerScale = rows / rowScale.length;
        parallelFor(rows, v, r -> {
            float s = rowScale[r / rowsPerScale];
            int po = cp.offset + r * v, dofs = cd.offset + r * v;
            for (int j = 0; j < v; j++) cd.data[dofs + j] += s * cp.data[po + j];
            cd.data[dofs + checkTarget(targets[r], v)] -= s;
        });
    }

    @Override
    public void softmaxBackward(Tensor probs, Tensor dProbs, Tensor dLogits, boolean accumulate) {
        CpuTensor cp = cpu(probs), cg = cpu(dProbs), cd = cpu(dLogits);
        int v = cp.lastDim(), rows = cp.size() / v;
        parallelFor(rows, v, r -> {
            int o = r * v;
            double dot = 0;
            for (int j = 0; j < v; j++) dot += (double) cp.data[cp.offset + o + j] * cg.data[cg.offset + o + j];
            for (int j = 0; j < v; j++) {
                float g = (float) (cp.data[cp.offset + o + j] * (cg.data[cg.offset + o + j] - dot));
                cd.data[cd.offset + o + j] = accumulate ? cd.data[cd.offset + o + j] + g : g;
            }
        });
    }

    // ---- embeddings ---------------------------------------------------------------

    @Override
    public void gather(Tensor table, int[] ids, Tensor out) {
        CpuTensor ct = cpu(table), co = cpu(out);
        int e = ct.lastDim(), vocab = ct.size() / e;
        for (int i = 0; i < ids.length; i++) {
            System.arraycopy(ct.data, ct.offset + checkTarget(ids[i], vocab) * e, co.data, co.offset + i * e, e);
        }
    }

    @Override
    public void scatterAdd(Tensor dOut, int[] ids, Tensor dTable) {
        CpuTensor cg = cpu(dOut), ct = cpu(dTable);
        int e = ct.lastDim(), vocab = ct.size() / e;
        for (int i = 0; i < ids.length; i++) {
            int to = ct.offset + checkTarget(ids[i], vocab) * e, go = cg.offset + i * e;
            for (int j = 0; j < e; j++) ct.data[to + j] += cg.data[go + j];
        }
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
        CpuTensor cp = cpu(param), cg = cpu(grad), cm = cpu(m), cv = cpu(v);
        requireSameSize(cp, cg, "adamW");
        double bc1 = 1 - Math.pow(beta1, step), bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        float stepSize = (float) (lr / bc1);
        int n = cp.size();
        int chunk = 8192;
        parallelFor((n + chunk - 1) / chunk, chunk, c -> {
            for (int i = c * chunk; i < Math.min(n, (c + 1) * chunk); i++) {
                float g = cg.data[cg.offset + i];
                float mi = cm.data[cm.offset + i] + (1 - beta1) * (g - cm.data[cm.offset + i]);
                float vi = cv.data[cv.offset + i] * beta2 + (1 - beta2) * g * g;
                cm.data[cm.offset + i] = mi;
                cv.data[cv.offset + i] = vi;
                float p = cp.data[cp.offset + i] * (1 - decay);
                cp.data[cp.offset + i] = p - stepSize * mi / ((float) (Math.sqrt(vi) / bc2Sqrt) + eps);
            }
        });
    }
}

package plaid.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.Random;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;
import plaid.backend.Segments;
import plaid.backend.Tensor;

/**
 * The CPU backend's backward ops against central finite differences of a double-precision
 * reference forward (itself checked against the backend's forward), on small random inputs.
 * The loss is always L = Σ g ⊙ f(x) for a random upstream gradient g, so dL/dx is what each
 * backward must return. Tolerances allow float32 rounding, nothing like a missing term.
 */
class CpuBackendGradientTest {
    private final CpuBackend be = new CpuBackend();
    private final Random rnd = new Random(2024);

    // ---- helpers --------------------------------------------------------------------

    private float[] random(int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        return x;
    }

    private Tensor tensor(float[] values, int... shape) {
        Tensor t = be.allocate(shape);
        be.upload(values, t);
        return t;
    }

    private static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    private static double dot(double[] g, double[] y) {
        double s = 0;
        for (int i = 0; i < g.length; i++) s += g[i] * y[i];
        return s;
    }

    /** Central differences of loss at x, in double. */
    private static double[] numericGradient(ToDoubleFunction<double[]> loss, double[] x) {
        double[] grad = new double[x.length];
        double[] probe = x.clone();
        for (int i = 0; i < x.length; i++) {
            double h = 1e-5 * Math.max(1, Math.abs(x[i]));
            probe[i] = x[i] + h;
            double up = loss.applyAsDouble(probe);
            probe[i] = x[i] - h;
            double down = loss.applyAsDouble(probe);
            probe[i] = x[i];
            grad[i] = (up - down) / (2 * h);
        }
        return grad;
    }

    /** |got − expected| ≤ rel·max|expected| + rel·|expected_i| elementwise, and expected is not trivially zero. */
    private static void assertClose(String what, float[] got, double[] expected, double rel) {
        assertThat(got).as(what + " length").hasSize(expected.length);
        double max = Arrays.stream(expected).map(Math::abs).max().orElse(0);
        assertThat(max).as(what + ": the reference is not all zeros").isGreaterThan(1e-3);
        for (int i = 0; i < got.length; i++) {
            double tol = rel * (max + Math.abs(expected[i]));
            if (!(Math.abs(got[i] - expected[i]) <= tol)) {
                fail(what + "[" + i + "] = " + got[i] + ", expected " + expected[i] + " ± " + tol);
            }
        }
    }

    private static float[] nans(int n) {
        float[] x = new float[n];
        Arrays.fill(x, Float.NaN);
        return x;
    }

    private static double[] plus(float[] base, double[] delta) {
        double[] r = new double[base.length];
        for (int i = 0; i < r.length; i++) r[i] = base[i] + delta[i];
        return r;
    }

    // ---- RMSNorm / LayerNorm ---------------------------------------------------------

    private static double[] rmsNormRef(double[] x, double[] w, double eps) {
        int d = w.length, rows = x.length / d;
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int j = 0; j < d; j++) ss += x[r * d + j] * x[r * d + j];
            double inv = 1 / Math.sqrt(ss / d + eps);
            for (int j = 0; j < d; j++) y[r * d + j] = x[r * d + j] * inv * w[j];
        }
        return y;
    }

    private static double[] layerNormRef(double[] x, double[] w, double eps) {
        int d = w.length, rows = x.length / d;
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double mu = 0, var = 0;
            for (int j = 0; j < d; j++) mu += x[r * d + j];
            mu /= d;
            for (int j = 0; j < d; j++) var += (x[r * d + j] - mu) * (x[r * d + j] - mu);
            double inv = 1 / Math.sqrt(var / d + eps);
            for (int j = 0; j < d; j++) y[r * d + j] = (x[r * d + j] - mu) * inv * w[j];
        }
        return y;
    }

    @Test
    void rmsNormBackwardMatchesFiniteDifferences() {
        int rows = 5, d = 7;
        float eps = 1e-5f;
        float[] x = random(rows * d, 2), w = random(d, 1.5), g = random(rows * d, 1), dw0 = random(d, 1);
        Tensor tx = tensor(x, rows, d), tw = tensor(w, d), out = be.allocate(rows, d), rstd = be.allocate(rows);
        be.rmsNorm(tx, tw, eps, out, rstd);
        assertClose("rmsNorm forward", be.download(out), rmsNormRef(toDouble(x), toDouble(w), eps), 1e-6);

        Tensor dx = tensor(nans(rows * d), rows, d), dw = tensor(dw0, d);
        be.rmsNormBackward(tensor(g, rows, d), tx, tw, rstd, dx, dw);
        double[] gd = toDouble(g);
        assertClose(
                "rmsNorm dx",
                be.download(dx),
                numericGradient(xs -> dot(gd, rmsNormRef(xs, toDouble(w), eps)), toDouble(x)),
                1e-5);
        assertClose(
                "rmsNorm dWeight (accumulated)",
                be.download(dw),
                plus(dw0, numericGradient(ws -> dot(gd, rmsNormRef(toDouble(x), ws, eps)), toDouble(w))),
                1e-5);

        Tensor dxAlone = tensor(nans(rows * d), rows, d);
        be.rmsNormBackward(tensor(g, rows, d), tx, tw, rstd, dxAlone, null);
        assertThat(be.download(dxAlone)).as("dx without a weight gradient").containsExactly(be.download(dx));
    }

    @Test
    void layerNormBackwardMatchesFiniteDifferences() {
        int rows = 6, d = 9;
        float eps = 1e-5f;
        float[] x = random(rows * d, 2), w = random(d, 1.5), g = random(rows * d, 1), dw0 = random(d, 1);
        for (int j = 0; j < d; j++) x[j] += 3; // a row far from zero mean
        Tensor tx = tensor(x, rows, d), tw = tensor(w, d), out = be.allocate(rows, d);
        Tensor mean = be.allocate(rows), rstd = be.allocate(rows);
        be.layerNorm(tx, tw, eps, out, mean, rstd);
        assertClose("layerNorm forward", be.download(out), layerNormRef(toDouble(x), toDouble(w), eps), 1e-6);

        Tensor dx = tensor(nans(rows * d), rows, d), dw = tensor(dw0, d);
        be.layerNormBackward(tensor(g, rows, d), tx, tw, mean, rstd, dx, dw);
        double[] gd = toDouble(g);
        assertClose(
                "layerNorm dx",
                be.download(dx),
                numericGradient(xs -> dot(gd, layerNormRef(xs, toDouble(w), eps)), toDouble(x)),
                1e-5);
        assertClose(
                "layerNorm dWeight (accumulated)",
                be.download(dw),
                plus(dw0, numericGradient(ws -> dot(gd, layerNormRef(toDouble(x), ws, eps)), toDouble(w))),
                1e-5);
    }

    // ---- GELU ---------------------------------------------------------------------------

    private static double[] geluRef(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double v = x[i];
            y[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
        }
        return y;
    }

    @Test
    void geluBackwardMatchesFiniteDifferences() {
        int n = 41;
        float[] x = random(n, 4), g = random(n, 1);
        x[0] = 0f;
        x[1] = -6f;
        x[2] = 6f;
        Tensor tx = tensor(x, n), out = be.allocate(n), dx = tensor(nans(n), n);
        be.gelu(tx, out);
        assertClose("gelu forward", be.download(out), geluRef(toDouble(x)), 1e-6);
        be.geluBackward(tensor(g, n), tx, dx);
        double[] gd = toDouble(g);
        assertClose("gelu dx", be.download(dx), numericGradient(xs -> dot(gd, geluRef(xs)), toDouble(x)), 1e-5);
    }

    // ---- rotary -------------------------------------------------------------------------

    /** Rotary on q and k of [rows, S, 3, H, hd] in double; angles rounded to float as the backend does. */
    private static double[] rotaryRef(double[] qkv, int seqLen, int heads, float[] invFreq, boolean inverse) {
        int half = invFreq.length, hd = 2 * half, perPos = 3 * heads * hd;
        double[] y = qkv.clone();
        for (int r = 0; r < qkv.length / perPos; r++) {
            int pos = r % seqLen;
            for (int j = 0; j < half; j++) {
                float angle = pos * invFreq[j];
                double cos = Math.cos(angle), sin = (inverse ? -1 : 1) * Math.sin(angle);
                for (int h = 0; h < 2 * heads; h++) { // q heads then k heads
                    int o = r * perPos + h * hd;
                    double x1 = qkv[o + j], x2 = qkv[o + j + half];
                    y[o + j] = x1 * cos - x2 * sin;
                    y[o + j + half] = x2 * cos + x1 * sin;
                }
            }
        }
        return y;
    }

    @Test
    void rotaryInverseUndoesForwardAndIsItsBackward() {
        int rows = 2, seqLen = 5, heads = 2, hd = 6;
        float[] invFreq = {1f, 0.3f, 0.05f};
        int[] shape = {rows, seqLen, 3, heads, hd};
        int n = rows * seqLen * 3 * heads * hd;
        float[] x = random(n, 1), g = random(n, 1);

        Tensor t = tensor(x, shape);
        be.rotary(t, heads, invFreq, false);
        float[] rotated = be.download(t);
        assertClose("rotary forward", rotated, rotaryRef(toDouble(x), seqLen, heads, invFreq, false), 1e-6);
        assertThat(maxAbsDiff(rotated, toDouble(x)))
                .as("rotary moved something")
                .isGreaterThan(0.1);

        be.rotary(t, heads, invFreq, true);
        assertClose("inverse(forward(x))", be.download(t), toDouble(x), 1e-6);

        // L = Σ g ⊙ R(x) is linear, dL/dx = Rᵀg, which the inverse rotation must produce (v passes through)
        Tensor tg = tensor(g, shape);
        be.rotary(tg, heads, invFreq, true);
        double[] gd = toDouble(g);
        assertClose(
                "rotary backward",
                be.download(tg),
                numericGradient(xs -> dot(gd, rotaryRef(xs, seqLen, heads, invFreq, false)), toDouble(x)),
                1e-5);
    }

    private static double maxAbsDiff(float[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    // ---- attention -----------------------------------------------------------------------

    /** softmax(q kᵀ/√d) v inside each segment, qkv [rows, S, 3, H, d] → [rows, S, H, d], in double. */
    private static double[] attentionRef(double[] qkv, int heads, int d, Segments seg) {
        int rows = seg.rows(), seqLen = seg.seqLen(), stride = 3 * heads * d;
        double[] out = new double[rows * seqLen * heads * d];
        for (int b = 0; b < rows; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < seqLen; i++) {
                    int lo = seg.segmentStart(b, i), hi = seg.segmentEnd(b, i);
                    double[] s = new double[hi - lo];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = lo; j < hi; j++) {
                        double dotp = 0;
                        for (int e = 0; e < d; e++)
                            dotp += qkv[(b * seqLen + i) * stride + h * d + e]
                                    * qkv[(b * seqLen + j) * stride + (heads + h) * d + e];
                        s[j - lo] = dotp / Math.sqrt(d);
                        max = Math.max(max, s[j - lo]);
                    }
                    for (int j = 0; j < s.length; j++) sum += s[j] = Math.exp(s[j] - max);
                    for (int j = lo; j < hi; j++) {
                        for (int e = 0; e < d; e++) {
                            out[((b * seqLen + i) * heads + h) * d + e] +=
                                    s[j - lo] / sum * qkv[(b * seqLen + j) * stride + (2 * heads + h) * d + e];
                        }
                    }
                }
            }
        }
        return out;
    }

    @Test
    void attentionBackwardWithSplitRowsMatchesFiniteDifferences() {
        int heads = 2, d = 4, seqLen = 7;
        Segments seg = Segments.ofLengths(seqLen, new int[][] {{3, 4}, {7}, {2, 0, 2, 3}});
        int rows = seg.rows();
        int n = rows * seqLen * 3 * heads * d, nOut = rows * seqLen * heads * d;
        float[] qkv = random(n, 1.5), g = random(nOut, 1);
        Tensor tq = tensor(qkv, rows, seqLen, 3, heads, d), out = be.allocate(rows, seqLen, heads, d);
        Tensor lse = be.allocate(rows, heads, seqLen);
        be.attention(tq, heads, seg, out, lse);
        assertClose("attention forward", be.download(out), attentionRef(toDouble(qkv), heads, d, seg), 1e-6);

        Tensor dqkv = tensor(nans(n), rows, seqLen, 3, heads, d);
        be.attentionBackward(tensor(g, rows, seqLen, heads, d), tq, out, lse, heads, seg, dqkv);
        double[] gd = toDouble(g);
        double[] expected = numericGradient(xs -> dot(gd, attentionRef(xs, heads, d, seg)), toDouble(qkv));
        assertClose("attention dqkv", be.download(dqkv), expected, 1e-5);

        // the segments matter: the whole-row gradient is a different one
        double[] whole =
                numericGradient(xs -> dot(gd, attentionRef(xs, heads, d, Segments.whole(rows, seqLen))), toDouble(qkv));
        assertThat(maxAbsDiff(be.download(dqkv), whole))
                .as("split rows change the gradient")
                .isGreaterThan(1e-2);
    }

    // ---- softmax ----------------------------------------------------------------------

    private static double[] softmaxRef(double[] z, int v) {
        double[] p = new double[z.length];
        for (int r = 0; r < z.length / v; r++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < v; j++) max = Math.max(max, z[r * v + j]);
            for (int j = 0; j < v; j++) sum += p[r * v + j] = Math.exp(z[r * v + j] - max);
            for (int j = 0; j < v; j++) p[r * v + j] /= sum;
        }
        return p;
    }

    @Test
    void softmaxBackwardMatchesFiniteDifferencesAndAccumulates() {
        int rows = 4, v = 9;
        float[] z = random(rows * v, 3), g = random(rows * v, 1), d0 = random(rows * v, 1);
        Tensor tz = tensor(z, rows, v), probs = be.allocate(rows, v);
        be.softmax(tz, probs);
        assertClose("softmax forward", be.download(probs), softmaxRef(toDouble(z), v), 1e-6);

        double[] gd = toDouble(g);
        double[] expected = numericGradient(zs -> dot(gd, softmaxRef(zs, v)), toDouble(z));
        Tensor dz = tensor(nans(rows * v), rows, v);
        be.softmaxBackward(probs, tensor(g, rows, v), dz, false);
        assertClose("softmax dLogits", be.download(dz), expected, 1e-5);

        Tensor acc = tensor(d0, rows, v);
        be.softmaxBackward(probs, tensor(g, rows, v), acc, true);
        assertClose("softmax dLogits accumulated", be.download(acc), plus(d0, expected), 1e-5);
    }

    // ---- AdamW ----------------------------------------------------------------------------

    @Test
    void adamWStepMatchesHandComputation() {
        int n = 12;
        float lr = 0.01f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, decay = 0.001f;
        for (int step : new int[] {1, 3}) {
            float[] p = random(n, 1), g = random(n, 0.5), m = step == 1 ? new float[n] : random(n, 0.1);
            float[] v = new float[n];
            if (step > 1) for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextDouble() * 0.01);
            g[0] = 0f; // a zero gradient still decays and moves with momentum
            Tensor tp = tensor(p, n), tm = tensor(m, n), tv = tensor(v, n);
            be.adamW(tp, tensor(g, n), tm, tv, lr, beta1, beta2, eps, decay, step);

            double[] pe = new double[n], me = new double[n], ve = new double[n];
            for (int i = 0; i < n; i++) {
                me[i] = (double) beta1 * m[i] + (1 - (double) beta1) * g[i];
                ve[i] = (double) beta2 * v[i] + (1 - (double) beta2) * g[i] * g[i];
                double mHat = me[i] / (1 - Math.pow(beta1, step)), vHat = ve[i] / (1 - Math.pow(beta2, step));
                pe[i] = p[i] * (1 - (double) decay) - lr * mHat / (Math.sqrt(vHat) + eps);
            }
            float[] pGot = be.download(tp), mGot = be.download(tm), vGot = be.download(tv);
            for (int i = 0; i < n; i++) {
                // float rounding of each result is ~1e-7 of the operands it came from
                assertThat((double) mGot[i])
                        .as("m[%d] at step %d", i, step)
                        .isCloseTo(
                                me[i],
                                org.assertj.core.data.Offset.offset(1e-6 * (Math.abs(m[i]) + Math.abs(g[i]) + 1e-9)));
                assertThat((double) vGot[i])
                        .as("v[%d] at step %d", i, step)
                        .isCloseTo(ve[i], org.assertj.core.data.Offset.offset(1e-6 * (v[i] + g[i] * g[i] + 1e-12)));
                // the update is ~lr; float rounding of p is ~1e-7·|p|
                assertThat((double) pGot[i])
                        .as("p[%d] at step %d", i, step)
                        .isCloseTo(pe[i], org.assertj.core.data.Offset.offset(1e-6 * (Math.abs(pe[i]) + lr)));
                assertThat(Math.abs(pGot[i] - p[i])).as("p[%d] moved", i).isGreaterThan(1e-4f);
            }
        }
    }
}

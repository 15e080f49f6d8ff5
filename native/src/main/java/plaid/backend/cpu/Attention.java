package plaid.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import plaid.backend.MatmulPrecision;
import plaid.backend.Segments;

/**
 * Non-causal attention within segments on the CPU, one (row, head) per task.
 *
 * <p>Each task first copies its head's q, k, v out of the interleaved qkv layout into
 * contiguous [S, d] arrays, so the inner loops are unit-stride Vector API dot products and
 * axpys over d. Dot products sum their lanes in a fixed order (not {@code reduceLanes}),
 * so results do not depend on whether the JIT has compiled the loop yet: resumed runs stay
 * bit-identical to uninterrupted ones.
 */
final class Attention {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private Attention() {}

    /** A head's q, k, v (and, in the backward, their gradients and dOut) as contiguous [S, d]. */
    private record Head(float[] q, float[] k, float[] v) {
        static Head unpack(CpuTensor qkv, int b, int h, int seqLen, int heads, int d) {
            float[] q = new float[seqLen * d], k = new float[seqLen * d], v = new float[seqLen * d];
            int stride = 3 * heads * d;
            for (int s = 0; s < seqLen; s++) {
                int base = qkv.offset + (b * seqLen + s) * stride;
                System.arraycopy(qkv.data, base + h * d, q, s * d, d);
                System.arraycopy(qkv.data, base + (heads + h) * d, k, s * d, d);
                System.arraycopy(qkv.data, base + (2 * heads + h) * d, v, s * d, d);
            }
            return new Head(q, k, v);
        }
    }

    /** @param tf32 QKᵀ and PV as TF32 matrix products ({@link #forwardTf32}); else in float32 with double softmax sums */
    static void forward(CpuTensor qkv, int heads, Segments segments, CpuTensor out, CpuTensor lse, boolean tf32) {
        int seqLen = segments.seqLen(), rows = segments.rows(), d = qkv.lastDim();
        double scale = 1.0 / Math.sqrt(d);
        CpuBackend.parallelFor(rows * heads, (long) seqLen * seqLen * d, bh -> {
            int b = bh / heads, h = bh % heads;
            Head head = Head.unpack(qkv, b, h, seqLen, heads, d);
            float[] lanes = new float[F.length()];
            if (tf32) {
                forwardTf32(head, b, h, heads, (float) Math.sqrt(scale), segments, out, lse, lanes);
                return;
            }
            double[] p = new double[seqLen];
            float[] acc = new float[d];
            for (int i = 0; i < seqLen; i++) {
                int lo = segments.segmentStart(b, i), hi = segments.segmentEnd(b, i);
                double max = Double.NEGATIVE_INFINITY;
                for (int j = lo; j < hi; j++) {
                    p[j] = dot(head.q, i * d, head.k, j * d, d, lanes) * scale;
                    max = Math.max(max, p[j]);
                }
                double sum = 0;
                for (int j = lo; j < hi; j++) {
                    p[j] = Math.exp(p[j] - max);
                    sum += p[j];
                }
                java.util.Arrays.fill(acc, 0f);
                for (int j = lo; j < hi; j++) axpy((float) (p[j] / sum), head.v, j * d, acc, 0, d);
                System.arraycopy(acc, 0, out.data, out.offset + ((b * seqLen + i) * heads + h) * d, d);
                lse.data[lse.offset + (b * heads + h) * seqLen + i] = (float) (max + Math.log(sum));
            }
        });
    }

    /**
     * One head as PyTorch's SDPA math path computes it under TF32: S = (q·√scale)(k·√scale)ᵀ and
     * O = softmax(S)·v, each product's operands rounded to TF32, the softmax in float32.
     */
    private static void forwardTf32(
            Head head,
            int b,
            int h,
            int heads,
            float sqrtScale,
            Segments segments,
            CpuTensor out,
            CpuTensor lse,
            float[] lanes) {
        int seqLen = segments.seqLen(), d = head.q.length / seqLen;
        float[] q = head.q, k = head.k, v = head.v;
        for (int x = 0; x < q.length; x++) {
            q[x] = MatmulPrecision.roundToTf32(q[x] * sqrtScale);
            k[x] = MatmulPrecision.roundToTf32(k[x] * sqrtScale);
            v[x] = MatmulPrecision.roundToTf32(v[x]);
        }
        float[] p = new float[seqLen], acc = new float[d];
        for (int i = 0; i < seqLen; i++) {
            int lo = segments.segmentStart(b, i), hi = segments.segmentEnd(b, i);
            float max = Float.NEGATIVE_INFINITY;
            for (int j = lo; j < hi; j++) {
                p[j] = (float) dot(q, i * d, k, j * d, d, lanes);
                max = Math.max(max, p[j]);
            }
            float sum = 0;
            for (int j = lo; j < hi; j++) {
                p[j] = (float) Math.exp(p[j] - max);
                sum += p[j];
            }
            java.util.Arrays.fill(acc, 0f);
            for (int j = lo; j < hi; j++) axpy(MatmulPrecision.roundToTf32(p[j] / sum), v, j * d, acc, 0, d);
            System.arraycopy(acc, 0, out.data, out.offset + ((b * seqLen + i) * heads + h) * d, d);
            lse.data[lse.offset + (b * heads + h) * seqLen + i] = (float) (max + Math.log(sum));
        }
    }

    static void backward(
            CpuTensor dOut, CpuTensor qkv, CpuTensor out, CpuTensor lse, int heads, Segments segments, CpuTensor dqkv) {
        int seqLen = segments.seqLen(), rows = segments.rows(), d = qkv.lastDim();
        int stride = 3 * heads * d;
        double scale = 1.0 / Math.sqrt(d);
        CpuBackend.parallelFor(rows * heads, (long) seqLen * seqLen * d * 2, bh -> {
            int b = bh / heads, h = bh % heads;
            Head head = Head.unpack(qkv, b, h, seqLen, heads, d);
            float[] lanes = new float[F.length()];
            float[] g = new float[seqLen * d], o = new float[seqLen * d];
            for (int s = 0; s < seqLen; s++) {
                int at = ((b * seqLen + s) * heads + h) * d;
                System.arraycopy(dOut.data, dOut.offset + at, g, s * d, d);
                System.arraycopy(out.data, out.offset + at, o, s * d, d);
            }
            float[] dq = new float[seqLen * d], dk = new float[seqLen * d], dv = new float[seqLen * d];
            for (int i = 0; i < seqLen; i++) {
                int lo = segments.segmentStart(b, i), hi = segments.segmentEnd(b, i);
                double rowLse = lse.data[lse.offset + (b * heads + h) * seqLen + i];
                double delta = dot(g, i * d, o, i * d, d, lanes); // Σ_j p_ij dp_ij = dOut_i · out_i
                for (int j = lo; j < hi; j++) {
                    double p = Math.exp(dot(head.q, i * d, head.k, j * d, d, lanes) * scale - rowLse);
                    double dp = dot(g, i * d, head.v, j * d, d, lanes);
                    float ds = (float) (p * (dp - delta) * scale);
                    axpy((float) p, g, i * d, dv, j * d, d);
                    axpy(ds, head.k, j * d, dq, i * d, d);
                    axpy(ds, head.q, i * d, dk, j * d, d);
                }
            }
            for (int s = 0; s < seqLen; s++) {
                int base = dqkv.offset + (b * seqLen + s) * stride;
                System.arraycopy(dq, s * d, dqkv.data, base + h * d, d);
                System.arraycopy(dk, s * d, dqkv.data, base + (heads + h) * d, d);
                System.arraycopy(dv, s * d, dqkv.data, base + (2 * heads + h) * d, d);
            }
        });
    }

    /** a·b over n floats; lanes summed in index order for tier-independent rounding. */
    private static double dot(float[] a, int ao, float[] b, int bo, int n, float[] lanes) {
        int bound = F.loopBound(n), p = 0;
        FloatVector acc = FloatVector.zero(F);
        for (; p < bound; p += F.length())
            acc = FloatVector.fromArray(F, a, ao + p).fma(FloatVector.fromArray(F, b, bo + p), acc);
        acc.intoArray(lanes, 0);
        double s = 0;
        for (float lane : lanes) s += lane;
        for (; p < n; p++) s += a[ao + p] * b[bo + p];
        return s;
    }

    /** y += alpha·x over n floats. */
    private static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        int bound = F.loopBound(n), p = 0;
        FloatVector a = FloatVector.broadcast(F, alpha);
        for (; p < bound; p += F.length()) {
            FloatVector.fromArray(F, x, xo + p)
                    .fma(a, FloatVector.fromArray(F, y, yo + p))
                    .intoArray(y, yo + p);
        }
        for (; p < n; p++) y[yo + p] += alpha * x[xo + p];
    }
}

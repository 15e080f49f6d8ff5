package plaid.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM on the CPU: C = alpha·op(A)·op(B) + beta·C, row-major.
 *
 * <p>Both operands are first brought to "k innermost" layout (A as [m,k], B as [n,k]) so
 * every output element is a dot product of two contiguous rows; a 4×2 register block of
 * Vector API accumulators then reuses each loaded vector several times. Rows of C are
 * shared among the fork-join workers.
 */
final class Gemm {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int ROW_BLOCK = 4;
    private static final int COL_BLOCK = 2;
    /** Columns of B processed together so they stay in cache while rows of A stream by. */
    private static final int COL_TILE = 128;

    private Gemm() {}

    static void multiply(boolean transA, boolean transB, int m, int n, int k, float alpha,
                         float[] a, int aOff, float[] b, int bOff, float beta, float[] c, int cOff) {
        float[] ak;
        int akOff;
        if (transA) {
            ak = transpose(a, aOff, k, m);
            akOff = 0;
        } else {
            ak = a;
            akOff = aOff;
        }
        float[] bk;
        int bkOff;
        if (transB) {
            bk = b;
            bkOff = bOff;
        } else {
            bk = transpose(b, bOff, k, n);
            bkOff = 0;
        }
        int rowBlocks = (m + ROW_BLOCK - 1) / ROW_BLOCK;
        int colTiles = (n + COL_TILE - 1) / COL_TILE;
        CpuBackend.parallelFor(rowBlocks * colTiles, (long) ROW_BLOCK * Math.min(n, COL_TILE) * k, task -> {
            int rb = task / colTiles, tile = task % colTiles;
            int i0 = rb * ROW_BLOCK, i1 = Math.min(m, i0 + ROW_BLOCK);
            int j0 = tile * COL_TILE, j1 = Math.min(n, j0 + COL_TILE);
            block(ak, akOff, bk, bkOff, c, cOff, i0, i1, j0, j1, n, k, alpha, beta);
        });
    }

    private static float[] transpose(float[] x, int off, int rows, int cols) {
        float[] t = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            int ro = off + r * cols;
            for (int col = 0; col < cols; col++) t[col * rows + r] = x[ro + col];
        }
        return t;
    }

    private static void store(float[] c, int idx, float dot, float alpha, float beta) {
        c[idx] = beta == 0f ? alpha * dot : alpha * dot + beta * c[idx];
    }

    private static void block(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff,
                              int i0, int i1, int j0, int j1, int n, int k, float alpha, float beta) {
        int kv = F.loopBound(k);
        if (i1 - i0 == ROW_BLOCK) {
            int j = j0;
            for (; j + COL_BLOCK <= j1; j += COL_BLOCK) {
                float[] dots = dot4x2(a, aOff + i0 * k, b, bOff + j * k, k, kv);
                for (int r = 0; r < ROW_BLOCK; r++) {
                    store(c, cOff + (i0 + r) * n + j, dots[2 * r], alpha, beta);
                    store(c, cOff + (i0 + r) * n + j + 1, dots[2 * r + 1], alpha, beta);
                }
            }
            for (; j < j1; j++) {
                for (int i = i0; i < i1; i++) store(c, cOff + i * n + j, dot(a, aOff + i * k, b, bOff + j * k, k, kv), alpha, beta);
            }
        } else {
            for (int i = i0; i < i1; i++) {
                for (int j = j0; j < j1; j++) store(c, cOff + i * n + j, dot(a, aOff + i * k, b, bOff + j * k, k, kv), alpha, beta);
            }
        }
    }

    private static float dot(float[] a, int ao, float[] b, int bo, int k, int kv) {
        FloatVector acc = FloatVector.zero(F);
        int p = 0;
        for (; p < kv; p += F.length()) {
            acc = FloatVector.fromArray(F, a, ao + p).fma(FloatVector.fromArray(F, b, bo + p), acc);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; p < k; p++) s += a[ao + p] * b[bo + p];
        return s;
    }

    /** Dot products of rows a0..a3 (stride k from ao) with rows b0, b1 (stride k from bo). */
    private static float[] dot4x2(float[] a, int ao, float[] b, int bo, int k, int kv) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        int p = 0;
        for (; p < kv; p += F.length()) {
            FloatVector b0 = FloatVector.fromArray(F, b, bo + p);
            FloatVector b1 = FloatVector.fromArray(F, b, bo + k + p);
            FloatVector a0 = FloatVector.fromArray(F, a, ao + p);
            c00 = a0.fma(b0, c00);
            c01 = a0.fma(b1, c01);
            FloatVector a1 = FloatVector.fromArray(F, a, ao + k + p);
            c10 = a1.fma(b0, c10);
            c11 = a1.fma(b1, c11);
            FloatVector a2 = FloatVector.fromArray(F, a, ao + 2 * k + p);
            c20 = a2.fma(b0, c20);
            c21 = a2.fma(b1, c21);
            FloatVector a3 = FloatVector.fromArray(F, a, ao + 3 * k + p);
            c30 = a3.fma(b0, c30);
            c31 = a3.fma(b1, c31);
        }
        float[] out = {
            c00.reduceLanes(VectorOperators.ADD), c01.reduceLanes(VectorOperators.ADD),
            c10.reduceLanes(VectorOperators.ADD), c11.reduceLanes(VectorOperators.ADD),
            c20.reduceLanes(VectorOperators.ADD), c21.reduceLanes(VectorOperators.ADD),
            c30.reduceLanes(VectorOperators.ADD), c31.reduceLanes(VectorOperators.ADD)};
        for (; p < k; p++) {
            for (int r = 0; r < ROW_BLOCK; r++) {
                float av = a[ao + r * k + p];
                out[2 * r] += av * b[bo + p];
                out[2 * r + 1] += av * b[bo + k + p];
            }
        }
        return out;
    }
}

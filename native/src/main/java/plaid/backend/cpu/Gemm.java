package plaid.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM on the CPU: C = alpha·op(A)·op(B) + beta·C, row-major.
 *
 * <p>The classic packed ("Goto") scheme. For each block of {@link #KC} steps of k, a block of
 * op(B) is copied into column panels of {@link #NR} floats per k step, zero-padded, so the
 * transpose only changes how the copy reads. A micro-kernel then keeps an MR×NR tile of C in
 * vector registers and, for each k step, loads one row of the B panel and broadcasts each of
 * MR values of op(A) into one FMA per register: outer products, no horizontal reductions.
 * op(A) is read in place when its rows are rows of A (eight sequential streams, no copy); a
 * transposed or ragged block of it is first packed into panels of {@link #MR} floats per k
 * step. Work is split among threads by rows or columns of C, whichever is longer.
 */
final class Gemm {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /**
     * Micro-tile: MR rows × NR = 3 vectors of columns gives 24 accumulators, enough independent
     * FMA chains to cover latency × issue width (4 × 2 on current x86), and leaves registers
     * for the 3 B vectors and the broadcast out of 32; per k step 3 loads + 8 broadcasts feed 24 FMAs.
     */
    private static final int MR = 8;

    private static final int NR = 3 * L;
    /** k steps per block: a B panel (KC×NR floats, 48 KiB at 16 lanes) stays near L1 while the A rows stream by. */
    private static final int KC = 256;
    /** Rows of A per block: MC×KC floats sized for L2, reused across all B panels of the block. */
    private static final int MC = 128;
    /** Columns of B packed at once (KC×NC floats, L2/L3), reused across all row blocks of A. */
    private static final int NC = 2016 / NR * NR;

    private Gemm() {}

    static void multiply(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            float alpha,
            float[] a,
            int aOff,
            float[] b,
            int bOff,
            float beta,
            float[] c,
            int cOff) {
        if (m == 0 || n == 0) return;
        // Tiles are MR×NR with NR ≫ MR, so a narrow C (the model's 16-wide embedding) would be
        // mostly padding; then compute Cᵀ = op(B)ᵀ·op(A)ᵀ instead, writing C with swapped strides.
        // Only for a transposed A: else Aᵀ would become a B packed by scattered transposing copies,
        // which costs more than the padding when A is the big operand (probabilities × embedding).
        boolean swap =
                transA && (long) roundUp(m, NR) * roundUp(n, MR) * 5 < (long) roundUp(m, MR) * roundUp(n, NR) * 4;
        Operands op = swap
                ? new Operands(!transB, !transA, n, m, k, alpha, b, bOff, a, aOff, beta, c, cOff, 1, n)
                : new Operands(transA, transB, m, n, k, alpha, a, aOff, b, bOff, beta, c, cOff, n, 1);
        m = op.m;
        n = op.n;
        long flops = 2L * m * n * k;
        // Each thread gets its own strip of C and packs its own operands: no synchronisation, and
        // the copy it repeats (all of the other operand) costs one element per ≥ 2·strip FMAs.
        int threads = flops < 4_000_000 ? 1 : Runtime.getRuntime().availableProcessors();
        boolean byRows = m >= n;
        int unit = byRows ? MR : NR, extent = byRows ? m : n;
        int strips = Math.max(1, Math.min(threads, (extent + unit - 1) / unit));
        int perStrip = roundUp((extent + strips - 1) / strips, unit);
        CpuBackend.parallelFor(strips, flops / strips, s -> {
            int lo = s * perStrip, hi = Math.min(extent, lo + perStrip);
            if (lo >= hi) return;
            if (byRows) op.compute(lo, hi, 0, op.n);
            else op.compute(0, op.m, lo, hi);
        });
    }

    /**
     * One multiplication's arguments; {@link #compute} fills a rectangle of C, whose element
     * (i, j) is at {@code cOff + i·rowStride + j·colStride}.
     */
    private record Operands(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            float alpha,
            float[] a,
            int aOff,
            float[] b,
            int bOff,
            float beta,
            float[] c,
            int cOff,
            int rowStride,
            int colStride) {

        void compute(int i0, int i1, int j0, int j1) {
            if (k == 0) {
                for (int i = i0; i < i1; i++) {
                    for (int j = j0; j < j1; j++) {
                        int ci = cOff + i * rowStride + j * colStride;
                        c[ci] = beta == 0f ? 0f : beta * c[ci];
                    }
                }
                return;
            }
            int kcMax = Math.min(KC, k);
            float[] bPack = new float[roundUp(Math.min(NC, j1 - j0), NR) * kcMax];
            float[] aPack = new float[roundUp(Math.min(MC, i1 - i0), MR) * kcMax];
            float[] tile = new float[MR * NR];
            for (int jc = j0; jc < j1; jc += NC) {
                int nc = Math.min(NC, j1 - jc);
                for (int pc = 0; pc < k; pc += KC) {
                    int kc = Math.min(KC, k - pc);
                    // the first k block applies beta; later ones add to what it stored
                    boolean first = pc == 0;
                    packB(bPack, pc, kc, jc, nc);
                    for (int ic = i0; ic < i1; ic += MC) {
                        int mc = Math.min(MC, i1 - ic);
                        // rows of A are read in place: one sequential stream per tile row
                        boolean inPlace = !transA && mc % MR == 0;
                        if (!inPlace) packA(aPack, ic, mc, pc, kc);
                        for (int jr = 0; jr < nc; jr += NR) {
                            for (int ir = 0; ir < mc; ir += MR) {
                                if (inPlace) kernel(kc, a, aOff + (ic + ir) * k + pc, k, 1, bPack, jr * kc, tile);
                                else kernel(kc, aPack, ir * kc, 1, MR, bPack, jr * kc, tile);
                                update(tile, ic + ir, Math.min(MR, mc - ir), jc + jr, Math.min(NR, nc - jr), first);
                            }
                        }
                    }
                }
            }
        }

        /** op(A)[i0 .. i0+mc, p0 .. p0+kc] as panels of MR rows: panel q holds [p][r] at q·MR·kc + p·MR + r. */
        private void packA(float[] dst, int i0, int mc, int p0, int kc) {
            for (int ir = 0; ir < mc; ir += MR) {
                int rows = Math.min(MR, mc - ir), base = ir * kc;
                if (transA) { // A is [k, m]: each k step's MR rows are contiguous
                    for (int p = 0; p < kc; p++) {
                        int src = aOff + (p0 + p) * m + i0 + ir, d = base + p * MR;
                        System.arraycopy(a, src, dst, d, rows);
                        for (int r = rows; r < MR; r++) dst[d + r] = 0f;
                    }
                } else { // A is [m, k]: row i0+ir+r is contiguous along k
                    for (int r = 0; r < MR; r++) {
                        int src = aOff + (i0 + ir + r) * k + p0;
                        for (int p = 0; p < kc; p++) dst[base + p * MR + r] = r < rows ? a[src + p] : 0f;
                    }
                }
            }
        }

        /** op(B)[p0 .. p0+kc, j0 .. j0+nc] as panels of NR columns: panel q holds [p][col] at q·NR·kc + p·NR + col. */
        private void packB(float[] dst, int p0, int kc, int j0, int nc) {
            for (int jr = 0; jr < nc; jr += NR) {
                int cols = Math.min(NR, nc - jr), base = jr * kc;
                if (transB) { // B is [n, k]: row j0+jr+col, contiguous along k
                    for (int col = 0; col < NR; col++) {
                        if (col >= cols) {
                            for (int p = 0; p < kc; p++) dst[base + p * NR + col] = 0f;
                        } else {
                            int src = bOff + (j0 + jr + col) * k + p0;
                            for (int p = 0; p < kc; p++) dst[base + p * NR + col] = b[src + p];
                        }
                    }
                } else { // B is [k, n]: each k step's NR columns are contiguous
                    for (int p = 0; p < kc; p++) {
                        int src = bOff + (p0 + p) * n + j0 + jr, d = base + p * NR;
                        System.arraycopy(b, src, dst, d, cols);
                        for (int col = cols; col < NR; col++) dst[d + col] = 0f;
                    }
                }
            }
        }

        /** C[i0.., j0..] (rows × cols of the tile) = alpha·tile + (first ? beta·C : C). */
        private void update(float[] tile, int i0, int rows, int j0, int cols, boolean first) {
            float bc = first ? beta : 1f;
            for (int r = 0; r < rows; r++) {
                int ci = cOff + (i0 + r) * rowStride + j0 * colStride, ti = r * NR;
                int j = 0;
                if (cols == NR && colStride == 1) {
                    for (; j < NR; j += L) {
                        FloatVector t = FloatVector.fromArray(F, tile, ti + j).mul(alpha);
                        if (bc != 0f)
                            t = FloatVector.fromArray(F, c, ci + j).mul(bc).add(t);
                        t.intoArray(c, ci + j);
                    }
                }
                for (; j < cols; j++) {
                    float t = alpha * tile[ti + j];
                    int cj = ci + j * colStride;
                    c[cj] = bc == 0f ? t : t + bc * c[cj];
                }
            }
        }
    }

    private static int roundUp(int x, int unit) {
        return (x + unit - 1) / unit * unit;
    }

    /**
     * tile[MR × NR] = Σ_p A[:, p] ⊗ B-panel[p, :] over kc steps, where A[r, p] is at
     * {@code ao + r·aRow + p·aStep} (packed: 1, MR; in place: k, 1). The 24 accumulators are
     * spelled out so that the JIT keeps them all in registers.
     */
    private static void kernel(int kc, float[] ap, int ao, int aRow, int aStep, float[] bp, int bo, float[] tile) {
        FloatVector z = FloatVector.zero(F);
        FloatVector c00 = z,
                c01 = z,
                c02 = z,
                c10 = z,
                c11 = z,
                c12 = z,
                c20 = z,
                c21 = z,
                c22 = z,
                c30 = z,
                c31 = z,
                c32 = z,
                c40 = z,
                c41 = z,
                c42 = z,
                c50 = z,
                c51 = z,
                c52 = z,
                c60 = z,
                c61 = z,
                c62 = z,
                c70 = z,
                c71 = z,
                c72 = z;
        for (int p = 0; p < kc; p++) {
            int bi = bo + p * NR, ai = ao + p * aStep;
            FloatVector b0 = FloatVector.fromArray(F, bp, bi);
            FloatVector b1 = FloatVector.fromArray(F, bp, bi + L);
            FloatVector b2 = FloatVector.fromArray(F, bp, bi + 2 * L);
            FloatVector x = FloatVector.broadcast(F, ap[ai]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(F, ap[ai + 1 * aRow]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(F, ap[ai + 2 * aRow]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            c22 = x.fma(b2, c22);
            x = FloatVector.broadcast(F, ap[ai + 3 * aRow]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            c32 = x.fma(b2, c32);
            x = FloatVector.broadcast(F, ap[ai + 4 * aRow]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            c42 = x.fma(b2, c42);
            x = FloatVector.broadcast(F, ap[ai + 5 * aRow]);
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
            c52 = x.fma(b2, c52);
            x = FloatVector.broadcast(F, ap[ai + 6 * aRow]);
            c60 = x.fma(b0, c60);
            c61 = x.fma(b1, c61);
            c62 = x.fma(b2, c62);
            x = FloatVector.broadcast(F, ap[ai + 7 * aRow]);
            c70 = x.fma(b0, c70);
            c71 = x.fma(b1, c71);
            c72 = x.fma(b2, c72);
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, L);
        c02.intoArray(tile, 2 * L);
        c10.intoArray(tile, NR);
        c11.intoArray(tile, NR + L);
        c12.intoArray(tile, NR + 2 * L);
        c20.intoArray(tile, 2 * NR);
        c21.intoArray(tile, 2 * NR + L);
        c22.intoArray(tile, 2 * NR + 2 * L);
        c30.intoArray(tile, 3 * NR);
        c31.intoArray(tile, 3 * NR + L);
        c32.intoArray(tile, 3 * NR + 2 * L);
        c40.intoArray(tile, 4 * NR);
        c41.intoArray(tile, 4 * NR + L);
        c42.intoArray(tile, 4 * NR + 2 * L);
        c50.intoArray(tile, 5 * NR);
        c51.intoArray(tile, 5 * NR + L);
        c52.intoArray(tile, 5 * NR + 2 * L);
        c60.intoArray(tile, 6 * NR);
        c61.intoArray(tile, 6 * NR + L);
        c62.intoArray(tile, 6 * NR + 2 * L);
        c70.intoArray(tile, 7 * NR);
        c71.intoArray(tile, 7 * NR + L);
        c72.intoArray(tile, 7 * NR + 2 * L);
    }
}

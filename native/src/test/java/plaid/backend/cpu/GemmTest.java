package plaid.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import plaid.backend.ComputeBackend.Epilogue;
import plaid.backend.Tensor;

/** SGEMM against a naive triple loop in double, through {@link CpuBackend#gemm} and {@link Gemm} directly. */
class GemmTest {
    private static final int[] SIZES = {1, 3, 17, 65, 130};
    private final CpuBackend be = new CpuBackend();

    /** alpha·op(A)op(B) + beta·C in double; also Σ|alpha·a·b| + |beta·c| per element, the scale of rounding. */
    private static double[][] reference(
            boolean tA,
            boolean tB,
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
        double[] val = new double[m * n], scale = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0, abs = 0;
                for (int p = 0; p < k; p++) {
                    double x = tA ? a[aOff + p * m + i] : a[aOff + i * k + p];
                    double y = tB ? b[bOff + j * k + p] : b[bOff + p * n + j];
                    s += x * y;
                    abs += Math.abs(x * y);
                }
                double old = beta == 0f ? 0 : (double) beta * c[cOff + i * n + j];
                val[i * n + j] = alpha * s + old;
                scale[i * n + j] = Math.abs(alpha) * abs + Math.abs(old);
            }
        }
        return new double[][] {val, scale};
    }

    /** Float rounding bound for a length-k sum: (k + 2)·2⁻²⁴ of Σ|terms|, doubled, plus a floor. */
    private static void assertClose(String what, float[] got, int off, double[][] ref, int k) {
        double[] val = ref[0], scale = ref[1];
        for (int i = 0; i < val.length; i++) {
            double tol = 2 * (k + 2) * 0x1p-24 * scale[i] + 1e-30;
            double err = Math.abs(got[off + i] - val[i]);
            if (!(err <= tol))
                fail(what + ": element " + i + " is " + got[off + i] + ", expected " + val[i] + " (tolerance " + tol
                        + ")");
        }
    }

    private static float[] random(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = rnd.nextFloat() * 2 - 1;
        return x;
    }

    static Stream<Arguments> oddShapes() {
        List<Arguments> cases = new ArrayList<>();
        for (int m : SIZES) for (int n : SIZES) for (int k : SIZES) cases.add(Arguments.of(m, n, k));
        return cases.stream();
    }

    @ParameterizedTest(name = "m={0} n={1} k={2}")
    @MethodSource("oddShapes")
    void allTransposesOfOddShapes(int m, int n, int k) {
        Random rnd = new Random(31L * m + 17L * n + k);
        float[][] alphaBeta = {{1f, 0f}, {-0.5f, 1f}, {2.5f, -1.5f}, {0.75f, 0.25f}};
        int variant = 0;
        for (boolean tA : new boolean[] {false, true}) {
            for (boolean tB : new boolean[] {false, true}) {
                float alpha = alphaBeta[variant][0], beta = alphaBeta[variant][1];
                variant++;
                check(rnd, tA, tB, m, n, k, alpha, beta);
            }
        }
    }

    /** Shapes past the packing blocks (k > 256, rows > 128, columns > 2016) and big enough to run on all threads. */
    @ParameterizedTest(name = "m={0} n={1} k={2}")
    @MethodSource("blockedShapes")
    void shapesThatCrossBlocksAndThreads(int m, int n, int k) {
        Random rnd = new Random(7L * m + n + 3L * k);
        for (boolean tA : new boolean[] {false, true}) {
            for (boolean tB : new boolean[] {false, true}) check(rnd, tA, tB, m, n, k, 1.25f, tA ? 0.5f : 0f);
        }
    }

    static Stream<Arguments> blockedShapes() {
        return Stream.of(
                Arguments.of(9, 2100, 5),
                Arguments.of(300, 70, 300),
                Arguments.of(20, 401, 300),
                Arguments.of(257, 129, 513),
                Arguments.of(131, 97, 1));
    }

    private void check(Random rnd, boolean tA, boolean tB, int m, int n, int k, float alpha, float beta) {
        float[] a = random(rnd, m * k), b = random(rnd, k * n), c0 = random(rnd, m * n);
        Tensor ta = be.allocate(tA ? new int[] {k, m} : new int[] {m, k});
        Tensor tb = be.allocate(tB ? new int[] {n, k} : new int[] {k, n});
        Tensor tc = be.allocate(m, n);
        be.upload(a, ta);
        be.upload(b, tb);
        be.upload(c0, tc);
        be.gemm(tA, tB, alpha, ta, tb, beta, tc);
        double[][] ref = reference(tA, tB, m, n, k, alpha, a, 0, b, 0, beta, c0, 0);
        assertClose(
                (tA ? "T" : "N") + (tB ? "T" : "N") + " m=" + m + " n=" + n + " k=" + k + " alpha=" + alpha + " beta="
                        + beta,
                be.download(tc),
                0,
                ref,
                k);
    }

    @Test
    void operandsAtOffsetsInsideLargerArrays() {
        Random rnd = new Random(5);
        int m = 19, n = 53, k = 37, aOff = 11, bOff = 3, cOff = 29;
        for (boolean tA : new boolean[] {false, true}) {
            for (boolean tB : new boolean[] {false, true}) {
                float[] a = random(rnd, aOff + m * k + 7),
                        b = random(rnd, bOff + k * n + 5),
                        c = random(rnd, cOff + m * n + 13);
                float[] before = c.clone();
                Gemm.multiply(tA, tB, m, n, k, 0.5f, a, aOff, b, bOff, 2f, c, cOff);
                assertClose(
                        "offsets " + tA + "," + tB,
                        c,
                        cOff,
                        reference(tA, tB, m, n, k, 0.5f, a, aOff, b, bOff, 2f, before, cOff),
                        k);
                for (int i = 0; i < cOff; i++) assertThat(c[i]).as("before C").isEqualTo(before[i]);
                for (int i = cOff + m * n; i < c.length; i++)
                    assertThat(c[i]).as("after C").isEqualTo(before[i]);
            }
        }
    }

    @Test
    void betaZeroIgnoresWhatCHeld() {
        Random rnd = new Random(9);
        int m = 33, n = 70, k = 20;
        float[] a = random(rnd, m * k), b = random(rnd, k * n), c = new float[m * n];
        java.util.Arrays.fill(c, Float.NaN);
        Gemm.multiply(false, false, m, n, k, 1f, a, 0, b, 0, 0f, c, 0);
        assertClose(
                "beta 0 over NaN", c, 0, reference(false, false, m, n, k, 1f, a, 0, b, 0, 0f, new float[m * n], 0), k);
    }

    @Test
    void emptyInnerDimensionScalesC() {
        float[] c = {1f, 2f, 3f, 4f, 5f, 6f};
        Gemm.multiply(false, false, 2, 3, 0, 1f, new float[0], 0, new float[0], 0, 0.5f, c, 0);
        assertThat(c).containsExactly(0.5f, 1f, 1.5f, 2f, 2.5f, 3f);
    }

    private static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    @ParameterizedTest
    @MethodSource("epilogues")
    void epilogues(Epilogue epilogue, boolean tA, boolean tB) {
        Random rnd = new Random(epilogue.ordinal() * 4L + (tA ? 2 : 0) + (tB ? 1 : 0));
        int m = 17, n = 65, k = 130;
        float alpha = 0.8f, beta = epilogue == Epilogue.BIAS ? 1f : 0f;
        float[] a = random(rnd, m * k), b = random(rnd, k * n), c0 = random(rnd, m * n), bias = random(rnd, n);
        Tensor ta = be.allocate(tA ? new int[] {k, m} : new int[] {m, k});
        Tensor tb = be.allocate(tB ? new int[] {n, k} : new int[] {k, n});
        Tensor tc = be.allocate(m, n), tBias = be.allocate(n), pre = be.allocate(m, n);
        be.upload(a, ta);
        be.upload(b, tb);
        be.upload(c0, tc);
        be.upload(bias, tBias);
        boolean hasBias = epilogue == Epilogue.BIAS || epilogue == Epilogue.BIAS_GELU;
        boolean hasGelu = epilogue == Epilogue.GELU || epilogue == Epilogue.BIAS_GELU;
        be.gemm(tA, tB, alpha, ta, tb, beta, tc, epilogue, hasBias ? tBias : null, hasGelu ? pre : null);
        double[][] ref = reference(tA, tB, m, n, k, alpha, a, 0, b, 0, beta, c0, 0);
        float[] got = be.download(tc), gotPre = be.download(pre);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                int e = i * n + j;
                double z = ref[0][e] + (hasBias ? bias[j] : 0);
                double tol = 2 * (k + 2) * 0x1p-24 * (ref[1][e] + Math.abs(z)) + 1e-7;
                if (hasGelu) {
                    assertThat((double) gotPre[e])
                            .as("pre-activation %d,%d", i, j)
                            .isCloseTo(z, org.assertj.core.data.Offset.offset(tol));
                    // GELU' ≤ 1.13, plus float rounding of the result
                    assertThat((double) got[e])
                            .as("GELU %d,%d", i, j)
                            .isCloseTo(
                                    gelu(z), org.assertj.core.data.Offset.offset(1.2 * tol + 1e-6 * Math.abs(gelu(z))));
                } else {
                    assertThat((double) got[e])
                            .as("%s %d,%d", epilogue, i, j)
                            .isCloseTo(z, org.assertj.core.data.Offset.offset(tol));
                }
            }
        }
    }

    static Stream<Arguments> epilogues() {
        List<Arguments> cases = new ArrayList<>();
        for (Epilogue e : Epilogue.values()) {
            cases.add(Arguments.of(e, false, true));
            cases.add(Arguments.of(e, true, false));
        }
        return cases.stream();
    }
}

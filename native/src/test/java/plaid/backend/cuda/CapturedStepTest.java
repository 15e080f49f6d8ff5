package plaid.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackend.Epilogue;
import plaid.backend.MatmulPrecision;
import plaid.backend.Segments;
import plaid.backend.StepGraph;
import plaid.backend.Tensor;

/**
 * Steps recorded as CUDA graphs ({@link CapturedStep}) against the same steps run op by op, on one device:
 * a block-like step (uploads, per-step scale factors, norms, the attention and MLP halves, products with and
 * without an epilogue, softmax, fill, axpy, copy) gives bit for bit the same results each step, in fp32, TF32
 * and the bf16 mode; a step whose work changes (another tensor, a scratch buffer that moved, arrays staged
 * once that now differ) is run directly and captured again; a step that reads back to the host is never
 * captured and still computes right; another backend's free on another thread waits for a capture. Skipped
 * without a GPU unless {@code -Dplaid.cuda.required=true}.
 */
class CapturedStepTest {
    private static final int ROWS = 2, SEQ = 256, DIM = 256, HEADS = 4, HEAD_DIM = DIM / HEADS, VOCAB = 512;
    private static final int STEPS = 6;

    private static CudaBackend base;

    @BeforeAll
    static void openDevice() {
        CudaRequirement.requireCuda();
        base = new CudaBackend(CudaOptions.fromSystemProperties().withGraphs(false));
    }

    @AfterAll
    static void closeDevice() {
        if (base != null) base.close();
    }

    /** The weights and activations of a block-like step, and its per-step inputs. */
    private static final class Net {
        final CudaBackend be;
        final Random random = new Random(3);
        final Tensor x, h, norm, rstd, qkv, attn, lse, mid, norm2, rstd2, out, act, pre, logits, probs, xhat, acc;
        final Tensor result;
        final Tensor normWeight, wQkv, wOut, w1, w2, wHead, bias, embedding;
        final float[] invFreq = new float[HEAD_DIM / 2];
        final Segments segments = Segments.whole(ROWS, SEQ);

        Net(CudaBackend be) {
            this.be = be;
            int tokens = ROWS * SEQ;
            x = be.allocate(tokens, DIM);
            h = be.allocate(tokens, DIM);
            norm = be.allocate(tokens, DIM);
            rstd = be.allocate(tokens);
            qkv = be.allocate(ROWS, SEQ, 3, HEADS, HEAD_DIM);
            attn = be.allocate(tokens, DIM);
            lse = be.allocate(ROWS, HEADS, SEQ);
            mid = be.allocate(tokens, DIM);
            norm2 = be.allocate(tokens, DIM);
            rstd2 = be.allocate(tokens);
            out = be.allocate(tokens, DIM);
            act = be.allocate(tokens, 4 * DIM);
            pre = be.allocate(tokens, 4 * DIM);
            logits = be.allocate(tokens, VOCAB);
            probs = be.allocate(tokens, VOCAB);
            xhat = be.allocate(tokens, 16);
            acc = be.allocate(tokens, 16);
            result = be.allocate(tokens, 16);
            normWeight = weights(1, DIM);
            wQkv = weights(3 * DIM, DIM);
            wOut = weights(DIM, DIM);
            w1 = weights(4 * DIM, DIM);
            w2 = weights(DIM, 4 * DIM);
            wHead = weights(VOCAB, DIM);
            bias = weights(1, VOCAB);
            embedding = weights(VOCAB, 16);
            for (int k = 0; k < invFreq.length; k++) invFreq[k] = (float) Math.pow(10000, -2.0 * k / HEAD_DIM);
        }

        private Tensor weights(int rows, int cols) {
            Tensor t = be.allocate(rows, cols);
            float[] v = new float[rows * cols];
            for (int i = 0; i < v.length; i++) v[i] = (float) (random.nextGaussian() / Math.sqrt(cols));
            be.upload(v, t);
            return t;
        }

        List<Tensor> weights() {
            return List.of(normWeight, wQkv, wOut, w1, w2, wHead, bias, embedding);
        }

        /** The step's input and its per-row scale factors at step i (the same on every device and run). */
        float[] input(int i) {
            Random r = new Random(100 + i);
            float[] v = new float[ROWS * SEQ * DIM];
            for (int k = 0; k < v.length; k++) v[k] = (float) r.nextGaussian();
            return v;
        }

        static float[] factors(int i) {
            return new float[] {1f + 0.1f * i, 0.5f / (1 + i)};
        }

        /** The step's work on {@code on} (a face of this net's device). */
        void step(ComputeBackend on, int i) {
            on.upload(input(i), x);
            on.scaleGroups(x, factors(i), h);
            on.rmsNorm(h, normWeight, 1e-5f, norm, rstd);
            on.attentionOnto(0.5f, norm, wQkv, wOut, HEADS, invFreq, segments, h, mid, qkv, attn, lse, false);
            on.rmsNorm(mid, normWeight, 1e-5f, norm2, rstd2);
            on.mlpOnto(0.5f, norm2, w1, w2, mid, out, act, pre, false);
            on.gemm(false, true, 1f, out, wHead, 0f, logits, Epilogue.BIAS, bias, null);
            on.softmax(logits, probs);
            on.gemm(false, false, 1f, probs, embedding, 0f, xhat);
            on.fill(acc, 0.25f);
            on.axpy(1f, xhat, acc);
            on.copy(acc, result);
        }

        float[] outputs() {
            float[] r = be.download(result), p = be.download(probs);
            float[] both = Arrays.copyOf(r, r.length + p.length);
            System.arraycopy(p, 0, both, r.length, p.length);
            return both;
        }
    }

    private static CudaBackend face(String mode, boolean graphs) {
        GemmPrecision precision = mode.equals("bf16") ? GemmPrecision.BF16 : GemmPrecision.FP32;
        return base.withOptions(base.options().withPrecision(precision).withGraphs(graphs));
    }

    /** Each step's outputs, the steps run through {@code graph} (or directly) on {@code on}, weights read-only. */
    private static List<float[]> run(String mode, Net net, ComputeBackend on, StepGraph graph, int steps) {
        List<float[]> outputs = new ArrayList<>();
        Runnable all = () -> on.withReadOnly(net.weights(), () -> {
            for (int i = 0; i < steps; i++) {
                int step = i;
                graph.run(() -> net.step(on, step));
                outputs.add(net.outputs());
            }
            return null;
        });
        if (mode.equals("tf32")) {
            MatmulPrecision.withTf32(() -> {
                all.run();
                return null;
            });
        } else {
            all.run();
        }
        return outputs;
    }

    @ParameterizedTest
    @ValueSource(strings = {"fp32", "tf32", "bf16"})
    void aReplayedStepGivesBitForBitTheResultsOfItsOpsRunOneByOne(String mode) {
        CudaBackend direct = face(mode, false), graphs = face(mode, true);
        Net net = new Net(direct);
        List<float[]> expected = run(mode, net, direct, direct.stepGraph(), STEPS);
        StepGraph graph = graphs.stepGraph();
        assertThat(graph).isInstanceOf(CapturedStep.class);
        List<float[]> got = run(mode, net, graphs, graph, STEPS);
        CapturedStep captured = (CapturedStep) graph;
        assertThat(captured.runsDirectly()).as("gave up on graphs").isFalse();
        assertThat(captured.captures()).as("captures").isEqualTo(1);
        assertThat(captured.replays())
                .as("replays: all runs after the direct and the captured one")
                .isEqualTo(STEPS - 2);
        for (int i = 0; i < STEPS; i++)
            assertThat(got.get(i)).as("step %d in %s", i, mode).isEqualTo(expected.get(i));
        // the steps' inputs differ, so the replays did not just repeat one result
        assertThat(got.get(STEPS - 1)).isNotEqualTo(got.get(STEPS - 2));
    }

    @Test
    void directStepGraphsAreGivenWhenGraphsAreOff() {
        assertThat(face("fp32", false).stepGraph()).isNotInstanceOf(CapturedStep.class);
    }

    @Test
    void aStepWhoseWorkChangesRunsDirectlyAndIsCapturedAgain() {
        CudaBackend direct = face("fp32", false), graphs = face("fp32", true);
        Tensor in = direct.allocate(64, 32), first = direct.allocate(64, 32), second = direct.allocate(64, 32);
        CapturedStep graph = (CapturedStep) graphs.stepGraph();
        // steps 0-2 write `first`, 3-5 `second`; steps 6-7 scale with two equal factor arrays, step 8 with two
        // different ones (staged once in the recording)
        for (int i = 0; i < 9; i++) {
            float[] values = new float[64 * 32];
            Arrays.fill(values, i + 1);
            Tensor target = i < 3 ? first : second;
            float[] f1 = {2f, 3f}, f2 = i < 8 ? new float[] {2f, 3f} : new float[] {5f, 7f};
            int step = i;
            graph.run(() -> {
                graphs.upload(values, in);
                graphs.scaleGroups(in, f1, target);
                if (step >= 6) graphs.scaleGroups(target, f2, target);
            });
            float[] got = graphs.download(target);
            float expected = (i + 1) * 2f * (i >= 6 ? (i < 8 ? 2f : 5f) : 1f);
            assertThat(got[0]).as("step %d, first group", i).isEqualTo(expected);
            float expectedLast = (i + 1) * 3f * (i >= 6 ? (i < 8 ? 3f : 7f) : 1f);
            assertThat(got[got.length - 1]).as("step %d, second group", i).isEqualTo(expectedLast);
        }
        // 0 direct, 1 captured, 2 replayed; 3 stale (direct), 4 captured, 5 replayed; 6 stale (direct),
        // 7 captured; 8 stale (direct)
        assertThat(graph.captures()).isEqualTo(3);
        assertThat(graph.replays()).isEqualTo(2);
        assertThat(graph.runsDirectly()).isFalse();
    }

    @Test
    void aScratchBufferThatMovedBetweenReplaysMakesTheRecordingStale() {
        // a backend of its own, whose workspace no other test has grown
        try (CudaBackend graphs = new CudaBackend(base.options().withGraphs(true))) {
            scratchBufferMoves(graphs);
        }
    }

    private static void scratchBufferMoves(CudaBackend graphs) {
        int rows = 256, width = 64;
        Tensor dOut = graphs.allocate(rows, width), x = graphs.allocate(rows, width), weight = graphs.allocate(width);
        Tensor rstd = graphs.allocate(rows), dx = graphs.allocate(rows, width), dWeight = graphs.allocate(width);
        Random random = new Random(9);
        float[] xs = new float[rows * width], gs = new float[rows * width], ws = new float[width];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) random.nextGaussian();
            gs[i] = (float) random.nextGaussian();
        }
        Arrays.fill(ws, 1.5f);
        graphs.upload(xs, x);
        graphs.upload(ws, weight);
        graphs.rmsNorm(x, weight, 1e-5f, graphs.allocate(rows, width), rstd);
        CapturedStep step = (CapturedStep) graphs.stepGraph();
        List<float[]> got = new ArrayList<>();
        long[] workspaceBefore = new long[1], workspaceAfter = new long[1];
        for (int i = 0; i < 6; i++) {
            int s = i;
            step.run(() -> {
                float[] g = gs.clone();
                g[0] = s;
                graphs.upload(g, dOut);
                graphs.fill(dWeight, 0f);
                // the weight gradient's partial sums live in the shared workspace
                graphs.rmsNormBackward(dOut, x, weight, rstd, dx, dWeight);
            });
            got.add(graphs.download(dWeight));
            if (i == 2) {
                workspaceBefore[0] = graphs.parts().workspace.address();
                // a bigger reduction elsewhere moves the workspace to a new, larger buffer
                int bigRows = 4096, bigWidth = 1024;
                Tensor big = graphs.allocate(bigRows, bigWidth), bigRstd = graphs.allocate(bigRows);
                graphs.fill(bigRstd, 1f);
                graphs.rmsNormBackward(
                        big,
                        big,
                        graphs.allocate(bigWidth),
                        bigRstd,
                        graphs.allocate(bigRows, bigWidth),
                        graphs.allocate(bigWidth));
                workspaceAfter[0] = graphs.parts().workspace.address();
            }
        }
        CudaBackend direct = graphs.withOptions(graphs.options().withGraphs(false));
        for (int i = 0; i < 6; i++) {
            float[] g = gs.clone();
            g[0] = i;
            direct.upload(g, dOut);
            direct.fill(dWeight, 0f);
            direct.rmsNormBackward(dOut, x, weight, rstd, dx, dWeight);
            assertThat(got.get(i)).as("step %d", i).isEqualTo(direct.download(dWeight));
        }
        if (workspaceAfter[0] != workspaceBefore[0]) {
            // 0 direct, 1 captured, 2 replayed; 3 stale (direct); 4 captured, 5 replayed
            assertThat(step.captures()).isEqualTo(2);
            assertThat(step.replays()).isEqualTo(2);
        } else {
            // the larger buffer came back at the same address, where the recording's pointers still hold
            assertThat(step.captures()).isEqualTo(1);
            assertThat(step.replays()).isEqualTo(4);
        }
    }

    @Test
    void aStepThatReadsBackToTheHostIsNeverCapturedAndComputesRight() {
        CudaBackend graphs = face("fp32", true);
        Tensor t = graphs.allocate(1000);
        CapturedStep step = (CapturedStep) graphs.stepGraph();
        double[] sums = new double[5];
        for (int i = 0; i < 5; i++) {
            float[] values = new float[1000];
            Arrays.fill(values, i);
            int s = i;
            step.run(() -> {
                graphs.upload(values, t);
                sums[s] = graphs.sumOfSquares(t);
            });
            assertThat(sums[i]).as("step %d", i).isEqualTo(1000.0 * i * i);
        }
        assertThat(step.replays()).isZero();
        assertThat(step.captures()).isZero();
        assertThat(step.runsDirectly())
                .as("gave up after " + CapturedStep.MAX_FAILED_CAPTURES + " tries")
                .isTrue();
    }

    @Test
    void anotherBackendsFreeOnAnotherThreadWaitsForTheCapture() throws InterruptedException {
        // a backend of its own on the same device, as the model's tests make (it shares the primary context)
        try (CudaBackend other = new CudaBackend(base.options())) {
            CudaBackend graphs = face("fp32", true);
            Tensor t = graphs.allocate(1000);
            long stray = other.parts().memory.alloc(4096);
            CapturedStep step = (CapturedStep) graphs.stepGraph();
            Thread[] freeing = new Thread[1];
            for (int i = 0; i < 4; i++) {
                float value = i;
                float[] values = new float[1000];
                Arrays.fill(values, value);
                step.run(() -> {
                    // an upload, not a fill: its values are the step's host data, which may change between replays
                    graphs.upload(values, t);
                    if (value == 1 && freeing[0] == null) {
                        // in the capture: a free synchronises the context, which would break it, so it must wait
                        freeing[0] = new Thread(() -> other.parts().memory.free(stray, 4096));
                        freeing[0].start();
                        sleepBriefly();
                    }
                    graphs.scale(t, 2f);
                });
                assertThat(graphs.download(t)[999]).as("step %d", i).isEqualTo(2f * i);
            }
            freeing[0].join(10_000);
            assertThat(freeing[0].isAlive())
                    .as("the free waited for the capture, then ran")
                    .isFalse();
            assertThat(step.captures())
                    .as("captures; the latest fallback: %s", step.lastFallback())
                    .isEqualTo(1);
            assertThat(step.replays()).isEqualTo(2);
        }
    }

    private static void sleepBriefly() {
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void profilingRunsStepsDirectly() {
        CudaBackend graphs = face("fp32", true);
        Tensor t = graphs.allocate(100);
        CapturedStep step = (CapturedStep) graphs.stepGraph();
        graphs.profileOps(true);
        try {
            for (int i = 0; i < 4; i++) {
                float value = i;
                step.run(() -> graphs.fill(t, value));
                assertThat(graphs.download(t)[99]).isEqualTo(value);
            }
        } finally {
            graphs.profileOps(false);
            graphs.resetOpProfile();
        }
        assertThat(step.captures()).isZero();
        assertThat(step.replays()).isZero();
    }
}

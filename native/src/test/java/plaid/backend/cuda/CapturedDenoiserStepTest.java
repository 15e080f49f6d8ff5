package plaid.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackend.Epilogue;
import plaid.backend.MatmulPrecision;
import plaid.backend.Segments;
import plaid.backend.Tensor;

/**
 * The sampler's model call as a recorded step ({@link CapturedStep}): the ops of the model's denoiser forward
 * with nothing to backpropagate, in its order and at the shapes of SamplerGraphsParityTest's model (3 rows of 64,
 * width 384, 6 heads, embeddings of 16, 4096 ids, 2 blocks), here where a failure names the op. Its thin
 * products (inner dimension 16 or 64, the x̂ product over 4096 ids onto 16 columns) go to cuBLAS's GemmEx, in
 * the bf16 mode with fast-bf16 arithmetic on the fp32 matrices, unlike CapturedStepTest's; the blocks take the
 * bf16 mode's fused halves (cuBLASLt on bf16 copies, the rotary and flash attention on the bf16 qkv); the norms
 * hand bf16 copies over. Each run's results are bit for bit those of the same ops launched one by one, and all
 * runs after the direct one and the captured one replay. Skipped without a GPU unless
 * {@code -Dplaid.cuda.required=true}.
 */
class CapturedDenoiserStepTest {
    private static final int ROWS = 3, SEQ = 64, DIM = 384, HEADS = 6, HEAD_DIM = DIM / HEADS;
    private static final int EMBED = 16, VOCAB = 4096, GAMMA_FEATURES = 64, BLOCKS = 2, TOKENS = ROWS * SEQ;
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

    /** The weights and activations of the forward, named as the model's. */
    private static final class Model {
        final CudaBackend be;
        final Random random = new Random(5);
        final Tensor inputLinear, selfcondLinear, gammaLinear, outputNorm, readout, readoutBias, embedding;
        final Tensor[] norm1 = new Tensor[BLOCKS], qkvWeight = new Tensor[BLOCKS], outWeight = new Tensor[BLOCKS];
        final Tensor[] norm2 = new Tensor[BLOCKS], fc1 = new Tensor[BLOCKS], fc2 = new Tensor[BLOCKS];
        final Tensor z, selfCond, x, selfCondScaled, gammaFeatures, gammaProjection, norm, rstd, rstd2;
        final Tensor[] stream = new Tensor[BLOCKS + 1];
        final Tensor mid, qkv, attn, lse, act, pre, y, mean, yRstd, zb, logits, probs, xHat;
        final float[] invFreq = new float[HEAD_DIM / 2];
        final Segments segments = Segments.whole(ROWS, SEQ);

        Model(CudaBackend be) {
            this.be = be;
            inputLinear = weights(DIM, EMBED);
            selfcondLinear = weights(DIM, EMBED);
            gammaLinear = weights(DIM, GAMMA_FEATURES);
            outputNorm = weights(1, DIM);
            readout = weights(VOCAB, DIM);
            readoutBias = weights(1, VOCAB);
            embedding = weights(VOCAB, EMBED);
            for (int b = 0; b < BLOCKS; b++) {
                norm1[b] = weights(1, DIM);
                qkvWeight[b] = weights(3 * DIM, DIM);
                outWeight[b] = weights(DIM, DIM);
                norm2[b] = weights(1, DIM);
                fc1[b] = weights(4 * DIM, DIM);
                fc2[b] = weights(DIM, 4 * DIM);
            }
            z = be.allocate(TOKENS, EMBED);
            selfCond = be.allocate(TOKENS, EMBED);
            x = be.allocate(TOKENS, EMBED);
            selfCondScaled = be.allocate(TOKENS, EMBED);
            gammaFeatures = be.allocate(ROWS, GAMMA_FEATURES);
            gammaProjection = be.allocate(ROWS, DIM);
            for (int b = 0; b <= BLOCKS; b++) stream[b] = be.allocate(TOKENS, DIM);
            norm = be.allocate(TOKENS, DIM);
            rstd = be.allocate(TOKENS);
            rstd2 = be.allocate(TOKENS);
            mid = be.allocate(TOKENS, DIM);
            qkv = be.allocate(ROWS, SEQ, 3, HEADS, HEAD_DIM);
            attn = be.allocate(TOKENS, DIM);
            lse = be.allocate(ROWS, HEADS, SEQ);
            act = be.allocate(TOKENS, 4 * DIM);
            pre = be.allocate(TOKENS, 4 * DIM);
            y = be.allocate(TOKENS, DIM);
            mean = be.allocate(TOKENS);
            yRstd = be.allocate(TOKENS);
            zb = be.allocate(TOKENS, EMBED);
            logits = be.allocate(TOKENS, VOCAB);
            probs = be.allocate(TOKENS, VOCAB);
            xHat = be.allocate(TOKENS, EMBED);
            for (int k = 0; k < invFreq.length; k++) invFreq[k] = (float) Math.pow(10000, -2.0 * k / HEAD_DIM);
        }

        private Tensor weights(int rows, int cols) {
            Tensor t = be.allocate(rows, cols);
            float[] v = new float[rows * cols];
            for (int i = 0; i < v.length; i++) v[i] = (float) (random.nextGaussian() / Math.sqrt(cols));
            be.upload(v, t);
            return t;
        }

        /** What the sampler declares read-only: every weight but the (normalised) embedding table. */
        List<Tensor> weights() {
            List<Tensor> all = new ArrayList<>(
                    List.of(inputLinear, selfcondLinear, gammaLinear, outputNorm, readout, readoutBias));
            for (int b = 0; b < BLOCKS; b++)
                all.addAll(List.of(norm1[b], qkvWeight[b], outWeight[b], norm2[b], fc1[b], fc2[b]));
            return all;
        }

        private static float[] gaussian(int seed, int n) {
            Random r = new Random(seed);
            float[] v = new float[n];
            for (int k = 0; k < n; k++) v[k] = (float) r.nextGaussian();
            return v;
        }

        private static float[] perRow(int i, float scale) {
            float[] v = new float[ROWS];
            for (int r = 0; r < ROWS; r++) v[r] = scale * (1f + 0.1f * i + 0.03f * r);
            return v;
        }

        /** Step i of the denoiser's forward (Denoiser.forward with forBackward false) on {@code on}. */
        void step(ComputeBackend on, int i) {
            on.upload(gaussian(100 + i, TOKENS * EMBED), z);
            on.upload(gaussian(200 + i, TOKENS * EMBED), selfCond);
            // the input projection
            on.scaleGroups(z, perRow(i, 0.5f), x);
            on.gemm(false, true, 1f, x, inputLinear, 0f, stream[0]);
            on.scaleGroups(selfCond, perRow(0, 4f), selfCondScaled);
            on.gemm(false, true, 1f, selfCondScaled, selfcondLinear, 1f, stream[0]);
            on.upload(gaussian(300 + i, ROWS * GAMMA_FEATURES), gammaFeatures);
            on.gemm(false, true, 1f, gammaFeatures, gammaLinear, 0f, gammaProjection);
            on.addToGroupRows(gammaProjection, stream[0].reshape(ROWS, SEQ, DIM));
            // the blocks
            float residual = 1f / BLOCKS;
            for (int b = 0; b < BLOCKS; b++) {
                Tensor in = stream[b], out = stream[b + 1];
                on.rmsNorm(in, norm1[b], 1e-5f, norm, rstd);
                on.attentionOnto(
                        residual,
                        norm,
                        qkvWeight[b],
                        outWeight[b],
                        HEADS,
                        invFreq,
                        segments,
                        in,
                        mid,
                        qkv,
                        attn,
                        lse,
                        false);
                on.rmsNorm(mid, norm2[b], 1e-5f, norm, rstd2);
                on.mlpOnto(residual, norm, fc1[b], fc2[b], mid, out, act, pre, false);
            }
            // the head: output norm, readout, z's bias, softmax, x̂
            on.layerNorm(stream[BLOCKS], outputNorm, 1e-5f, y, mean, yRstd);
            on.scale(y, 0.25f);
            on.gemm(false, true, 1f, y, readout, 0f, logits, Epilogue.BIAS, readoutBias, null);
            on.scaleGroups(z, perRow(i, 2f), zb);
            on.gemm(false, true, 1f, zb, embedding, 1f, logits);
            on.softmax(logits, probs);
            on.gemm(false, false, 1f, probs, embedding, 0f, xHat);
        }

        float[] outputs() {
            float[] x = be.download(xHat), l = be.download(logits);
            float[] both = Arrays.copyOf(x, x.length + l.length);
            System.arraycopy(l, 0, both, x.length, l.length);
            return both;
        }
    }

    private static List<float[]> run(Model model, ComputeBackend on, CapturedStep graph) {
        List<float[]> outputs = new ArrayList<>();
        // the sampler's thread asks for TF32 products, which the fp32 face then runs (the tf32 case)
        MatmulPrecision.withTf32(() -> on.withReadOnly(model.weights(), () -> {
            for (int i = 0; i < STEPS; i++) {
                int step = i;
                if (graph == null) model.step(on, step);
                else graph.run(() -> model.step(on, step));
                outputs.add(model.outputs());
            }
            return null;
        }));
        return outputs;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tf32", "bf16"})
    void theDenoisersForwardReplaysBitForBit(String mode) {
        GemmPrecision precision = mode.equals("bf16") ? GemmPrecision.BF16 : GemmPrecision.FP32;
        CudaBackend direct =
                base.withOptions(base.options().withPrecision(precision).withGraphs(false));
        CudaBackend graphs = direct.withOptions(direct.options().withGraphs(true));
        Model model = new Model(direct);
        List<float[]> expected = run(model, direct, null);
        CapturedStep graph = (CapturedStep) graphs.stepGraph();
        List<float[]> got = run(model, graphs, graph);
        String why = graph.lastFallback().orElse("none");
        assertThat(graph.runsDirectly())
                .as("gave up on graphs; the latest fallback: %s", why)
                .isFalse();
        assertThat(graph.captures())
                .as("captures; the latest fallback: %s", why)
                .isEqualTo(1);
        assertThat(graph.replays()).as("replays; the latest fallback: %s", why).isEqualTo(STEPS - 2);
        for (int i = 0; i < STEPS; i++)
            assertThat(got.get(i)).as("step %d in %s", i, mode).isEqualTo(expected.get(i));
        assertThat(got.get(STEPS - 1)).isNotEqualTo(got.get(STEPS - 2));
    }
}

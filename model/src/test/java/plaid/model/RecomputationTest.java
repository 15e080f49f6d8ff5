package plaid.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.backend.cpu.CpuBackend;
import plaid.model.head.HeadChunks;
import plaid.options.PlaidConfig;

/**
 * Activation recomputation (issue 17) on the CPU: blocks that share one set of activations and run their
 * forward again in the backward ({@link TrainingMemory#recomputedBlocks}) change no bit of the loss, x̂ or
 * any gradient, in training and in guidance's backward without parameter gradients, and save what they
 * should. (The norms a, b recomputed in every block's backward matched main's kept ones bit for bit on the
 * five modes of {@link #objectiveIsBitIdentical}, both heads, when they were introduced.)
 */
class RecomputationTest {
    private static final int BLOCKS = 3;

    @ParameterizedTest(name = "{0}, head chunks {1}")
    @CsvSource({
        "token, 0",
        "token, 256",
        "BoW_embedding, 0",
        "BoW_embedding, 256",
        "BoW_embedding_reconst_first, 0",
        "BoW_embedding_double_logit_reg, 0",
        "BoW_embedding_reconst_first_diff_lm_norms, 0"
    })
    void objectiveIsBitIdentical(String mode, int chunkRows) {
        PlaidConfig c = TestModels.objectiveConfig(mode, BLOCKS);
        TrainingMemory keep = new TrainingMemory(new HeadChunks(chunkRows), 2);
        Map<String, double[]> expected = TestModels.objectiveResults(c, new CpuBackend(), keep);
        assertThat(expected.get("MODEL.blocks.0.attn_qkv.weight"))
                .as("the first block's gradient compared is not all zero")
                .isNotEqualTo(new double[expected.get("MODEL.blocks.0.attn_qkv.weight").length]);
        for (int k = 1; k <= BLOCKS; k++) {
            Map<String, double[]> actual =
                    TestModels.objectiveResults(c, new CpuBackend(), keep.withRecomputedBlocks(k));
            assertThat(actual.keySet()).containsExactlyElementsOf(expected.keySet());
            for (var e : expected.entrySet())
                assertThat(actual.get(e.getKey()))
                        .as("%s, %d blocks recomputed: %s", mode, k, e.getKey())
                        .containsExactly(e.getValue());
        }
    }

    /** Guidance's use: d/dz and d/dγ without parameter gradients, which stay untouched; then with them. */
    @ParameterizedTest
    @CsvSource({"token", "BoW_embedding_double_logit_reg"})
    void denoiserBackwardIsBitIdentical(String mode) {
        PlaidConfig c = TestModels.objectiveConfig(mode, BLOCKS);
        Object[] expected = denoiserGradients(c, 0);
        for (int k = 1; k <= BLOCKS; k++) {
            Object[] actual = denoiserGradients(c, k);
            for (int i = 0; i < expected.length; i++)
                assertThat(actual[i])
                        .as("%s, %d blocks recomputed, output %d", mode, k, i)
                        .isEqualTo(expected[i]);
        }
    }

    /**
     * Two backwards of one forward with random logit and x̂ gradients: d/dz, d/dγ and the model's gradients
     * without parameter gradients (zero), then d/dz and the model's gradients with them.
     */
    private static Object[] denoiserGradients(PlaidConfig c, int recomputedBlocks) {
        int rows = 3, seq = 16, tokens = rows * seq, e = c.embedDim;
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 3);
        ComputeBackend be = p.backend();
        SplittableRandom rng = new SplittableRandom(17);
        TestModels.perturb(p, rng);
        p.zeroGrads();
        Tensor embedding = be.allocate(c.vocabSize, e);
        be.upload(p.normalizedEmbedding(), embedding);
        Denoiser d = new Denoiser(c, p, rows, seq, false, HeadChunks.OFF, recomputedBlocks);
        d.forward(
                upload(be, rng, tokens, e),
                new double[] {-1.5, 0.5, 3.0},
                embedding,
                0.8,
                upload(be, rng, tokens, e),
                null,
                Segments.whole(rows, seq));
        float[] logitGradient = gaussian(rng, tokens * c.vocabSize);
        be.upload(logitGradient, d.logitGradient());
        Tensor dXReconst = upload(be, rng, tokens, e);
        Denoiser.InputGradients guidance = d.backward(dXReconst, be.allocate(c.vocabSize, e), false);
        float[] guidanceDz = be.download(guidance.dz());
        double[] guidanceDGamma = guidance.dGamma();
        double[] untouched = modelGradients(p);
        be.upload(logitGradient, d.logitGradient());
        Denoiser.InputGradients training = d.backward(dXReconst, be.allocate(c.vocabSize, e), true);
        return new Object[] {guidanceDz, guidanceDGamma, untouched, be.download(training.dz()), modelGradients(p)};
    }

    private static double[] modelGradients(PlaidParameters p) {
        return p.all().stream()
                .filter(q -> q.group() == ParameterGroup.MODEL)
                .flatMapToDouble(q ->
                        java.util.Arrays.stream(TestModels.toDoubles(p.backend().download(q.grad()))))
                .toArray();
    }

    private static Tensor upload(ComputeBackend be, SplittableRandom rng, int rows, int cols) {
        Tensor t = be.allocate(rows, cols);
        be.upload(gaussian(rng, rows * cols), t);
        return t;
    }

    private static float[] gaussian(SplittableRandom rng, int n) {
        return DiffusionObjective.gaussian(rng, n);
    }

    @Test
    void aTrainerRunGivesTheSameWeights() {
        PlaidConfig c = TrainerTest.tinyConfig();
        c.nBlocks = BLOCKS;
        c.lrWarmupSteps = 0; // the optimiser's first 10 steps only warm its moments: steps 11 and 12 move the weights
        c.validate();
        float[][] initial = weights(c, "0", 0);
        float[][] kept = weights(c, "0", 12), recomputed = weights(c, "2", 12), all = weights(c, "3", 12);
        assertThat(kept).as("the steps moved the weights").isNotEqualTo(initial);
        assertThat(recomputed).as("2 blocks recomputed").isEqualTo(kept);
        assertThat(all).as("every block recomputed").isEqualTo(kept);
    }

    /** The weights after {@code steps} steps of a trainer built with {@code -Dplaid.recompute.blocks=blocks}. */
    private static float[][] weights(PlaidConfig c, String blocks, int steps) {
        String old = System.setProperty(TrainingMemory.RECOMPUTED_BLOCKS_PROPERTY, blocks);
        try {
            PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 7);
            Trainer trainer = new Trainer(c, p, new RandomSource(7), TrainerTest.fixedBatch(c, 3), 0);
            assertThat(trainer.objective().memory().recomputedBlocks()).isEqualTo(Integer.parseInt(blocks));
            for (int step = 0; step < steps; step++) trainer.step(step);
            return p.all().stream().map(q -> p.backend().download(q.value())).toArray(float[][]::new);
        } finally {
            if (old == null) System.clearProperty(TrainingMemory.RECOMPUTED_BLOCKS_PROPERTY);
            else System.setProperty(TrainingMemory.RECOMPUTED_BLOCKS_PROPERTY, old);
        }
    }

    /**
     * The bytes a denoiser allocates, counted through a backend that forwards every call to the CPU's: a
     * block keeps 9·D + H + 2 floats a token (qkv 3·D, attention out D, log-sum-exps H, mid D, fc1's
     * pre-activation 4·D, two 1/rms) and the residual stream D; the norms' outputs (2·D, kept per block
     * before) live in the shared workspace; k recomputed blocks share one set, saving k − 1 sets.
     */
    @Test
    void recomputationSavesTheActivationsItShould() {
        PlaidConfig c = TestModels.objectiveConfig("token", BLOCKS);
        int rows = 4, seq = 16, tokens = rows * seq;
        long activationBytes = Float.BYTES * (long) tokens * (9 * c.dim + c.nHeads + 2);
        long streamBytes = Float.BYTES * (long) tokens * c.dim;

        long kept = denoiserBytes(c, rows, seq, 0);
        PlaidConfig fewer = TestModels.objectiveConfig("token", BLOCKS - 1);
        assertThat(kept - denoiserBytes(fewer, rows, seq, 0))
                .as("what one block more costs")
                .isEqualTo(activationBytes + streamBytes);
        assertThat(denoiserBytes(c, rows, seq, 1))
                .as("one block shares a set alone")
                .isEqualTo(kept);
        for (int k = 2; k <= BLOCKS; k++)
            assertThat(kept - denoiserBytes(c, rows, seq, k))
                    .as("%d blocks recomputed", k)
                    .isEqualTo((k - 1) * activationBytes);
    }

    private static long denoiserBytes(PlaidConfig c, int rows, int seq, int recomputedBlocks) {
        CpuBackend cpu = new CpuBackend();
        long[] bytes = {0};
        ComputeBackend counting = (ComputeBackend) Proxy.newProxyInstance(
                ComputeBackend.class.getClassLoader(), new Class<?>[] {ComputeBackend.class}, (proxy, method, args) -> {
                    if (method.getName().equals("allocate")) {
                        long n = Float.BYTES;
                        for (int s : (int[]) args[0]) n *= s;
                        bytes[0] += n;
                    }
                    try {
                        return method.invoke(cpu, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        PlaidParameters p = PlaidParameters.initialize(c, counting, 1);
        long before = bytes[0];
        new Denoiser(c, p, rows, seq, false, HeadChunks.OFF, recomputedBlocks);
        return bytes[0] - before;
    }

    @Test
    void badSettingsAreRefusedNamingTheProperty() {
        PlaidConfig c = TestModels.objectiveConfig("token", BLOCKS);
        CpuBackend cpu = new CpuBackend();
        for (String bad : new String[] {"many", "-1", "4"})
            assertThatThrownBy(() -> TrainingMemory.recomputedBlocks(bad, cpu, c))
                    .as(bad)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(TrainingMemory.RECOMPUTED_BLOCKS_PROPERTY)
                    .hasMessageContaining(bad);
        assertThat(TrainingMemory.recomputedBlocks(" 3 ", cpu, c)).isEqualTo(3);
        assertThatThrownBy(() -> new TrainingMemory(HeadChunks.OFF, 0, -2))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(TrainingMemory.RECOMPUTED_BLOCKS_PROPERTY);
        PlaidParameters p = PlaidParameters.initialize(c, cpu, 1);
        assertThatThrownBy(() -> new Denoiser(c, p, 2, 16, false, HeadChunks.OFF, BLOCKS + 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(TrainingMemory.RECOMPUTED_BLOCKS_PROPERTY)
                .hasMessageContaining("outside [0, 3]");
    }

    /** {@code auto}: nothing on the CPU or a large card; on a 24 GB card the small model at batch 256 recomputes 4. */
    @Test
    void autoRecomputesAsFewBlocksAsFitHalfTheCard() {
        PlaidConfig small = PlaidConfig.defaults();
        small.dim = 384;
        small.nBlocks = 16;
        small.nHeads = 6;
        small.seqLen = 256;
        small.batchSize = 256;
        small.validate();
        assertThat(TrainingMemory.recomputedBlocks("auto", new CpuBackend(), small))
                .isZero();
        // a kept set: 65,536 tokens × (9·384 + 8) floats = 908 MB; half of 24 GB holds 13 sets: 12 kept + 1 shared
        assertThat(TrainingMemory.forDeviceMemory(24_000_000_000L, small)).isEqualTo(4);
        assertThat(TrainingMemory.forDeviceMemory(80L << 30, small)).isZero();
        assertThat(TrainingMemory.forDeviceMemory(1L << 30, small)).isEqualTo(16);
    }

    @Test
    void theSamplersDenoisersRecomputeOnlyWhereTheirRowsWouldNotFit() {
        PlaidConfig oneB = PlaidConfig.defaults();
        oneB.dim = 2048;
        oneB.nBlocks = 24;
        oneB.nHeads = 32;
        oneB.seqLen = 1024;
        oneB.validate();
        long card = 80L << 30;
        // 8 rows (the sampling benchmark's): 8,192 tokens × (9·2048 + 34) floats = 605 MB a set, all 24 kept
        assertThat(TrainingMemory.forDeviceMemory(card, oneB, 8L * 1024)).isZero();
        // 32 rows: 2.42 GB a set, 24 sets would take 58 GB; half the card holds 17 (16 kept + 1 shared)
        assertThat(TrainingMemory.forDeviceMemory(card, oneB, 32L * 1024)).isEqualTo(8);
        assertThat(TrainingMemory.autoRecomputedBlocks(new CpuBackend(), oneB, 32L * 1024))
                .isZero();
    }
}

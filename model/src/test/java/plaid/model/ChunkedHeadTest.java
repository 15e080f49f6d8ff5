package plaid.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import plaid.backend.cpu.CpuBackend;
import plaid.model.head.HeadChunks;
import plaid.options.PlaidConfig;

/**
 * The chunked output head (issue 17) against the whole one on the CPU, through the training objective
 * (with the self-conditioning pass split into passes of a few rows, which changes no bit):
 * every per-row result and every gradient that reaches the head only through d/dh, d/dz or d/dγ bit for
 * bit; output_linear.weight's gradient bit for bit when the chunks are multiples of 256 rows (the CPU
 * GEMM's k block); output_linear.bias's and the embedding matrix's gradients, whose sums over rows the
 * chunks split, to float rounding.
 */
class ChunkedHeadTest {
    private static final int ROWS = TestModels.OBJECTIVE_ROWS, SEQ = TestModels.OBJECTIVE_SEQ;
    /** Relative bound (max |Δ| / max |x|) on the gradients whose row sums are split by chunk. */
    private static final double SPLIT_SUM_BOUND = 1e-5;

    private static Map<String, double[]> run(TrainingMemory memory, String mode) {
        return TestModels.objectiveResults(TestModels.objectiveConfig(mode, 2), new CpuBackend(), memory);
    }

    @ParameterizedTest(name = "{0} rows a chunk, self-conditioning {1} rows a pass")
    @CsvSource({"256, 0", "100, 3", "37, 1", "192, 16", "512, 2", "4096, 0"})
    void chunkedHeadEqualsTheWholeOne(int rowsPerChunk, int selfcondRowsPerPass) {
        for (String mode : new String[] {"token", "BoW_embedding"}) {
            Map<String, double[]> whole = run(TrainingMemory.WHOLE, mode),
                    chunked = run(new TrainingMemory(new HeadChunks(rowsPerChunk), selfcondRowsPerPass), mode);
            boolean oneChunk = rowsPerChunk >= ROWS * SEQ, kBlocks = rowsPerChunk % 256 == 0;
            for (var e : whole.entrySet()) {
                String name = e.getKey();
                double[] expected = e.getValue(), actual = chunked.get(name);
                boolean splitSum = name.endsWith("output_linear.bias")
                        || name.endsWith("matrix")
                        || (name.endsWith("output_linear.weight") && !kBlocks);
                if (oneChunk || !splitSum) {
                    assertThat(actual).as("%s, %s, bit for bit", mode, name).containsExactly(expected);
                } else {
                    assertThat(relativeDifference(actual, expected))
                            .as("%s, %s", mode, name)
                            .isLessThan(SPLIT_SUM_BOUND);
                }
            }
            assertThat(maxAbs(whole.get("MODEL.output_linear.bias")))
                    .as("the bias gradient the bound is tested on is not zero")
                    .isGreaterThan(0);
        }
    }

    private static double relativeDifference(double[] a, double[] b) {
        double diff = 0;
        for (int i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
        return diff / Math.max(maxAbs(b), Double.MIN_NORMAL);
    }

    private static double maxAbs(double[] x) {
        double m = 0;
        for (double v : x) m = Math.max(m, Math.abs(v));
        return m;
    }

    @Test
    void theChunkedDenoiserKeepsNoWholeLogits() {
        PlaidConfig c = TrainerTest.tinyConfig();
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 1);
        Denoiser d = new Denoiser(c, p, 2, c.seqLen, false, new HeadChunks(8));
        assertThatThrownBy(d::logits).isInstanceOf(IllegalStateException.class).hasMessageContaining("chunked");
        assertThatThrownBy(d::logitGradient)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("chunked");
        assertThatThrownBy(() -> d.crossEntropy(new int[4], false))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("no forward");
    }

    @Test
    void chunkSizesComeFromTheBudgetOrTheProperty() {
        // 1 GiB for three fp32 [rows, 32768] buffers: 2730 rows, in whole units of 256
        assertThat(HeadChunks.forBudget(1L << 30, 32768).rows()).isEqualTo(2560);
        assertThat(HeadChunks.forBudget(1, 32768).rows()).isEqualTo(256);
        assertThatThrownBy(() -> new TrainingMemory(HeadChunks.OFF, -1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(TrainingMemory.SELFCOND_ROWS_PROPERTY);
        CpuBackend cpu = new CpuBackend();
        String old = System.getProperty(HeadChunks.PROPERTY);
        try {
            System.setProperty(HeadChunks.PROPERTY, "off");
            assertThat(HeadChunks.fromSystemProperty(cpu, 32768).on()).isFalse();
            System.setProperty(HeadChunks.PROPERTY, "300");
            assertThat(HeadChunks.fromSystemProperty(cpu, 32768).rows()).isEqualTo(300);
            System.setProperty(HeadChunks.PROPERTY, "auto"); // the CPU's budget: 512 MiB
            assertThat(HeadChunks.fromSystemProperty(cpu, 32768).rows()).isEqualTo(1280);
            System.setProperty(HeadChunks.PROPERTY, "many");
            assertThatThrownBy(() -> HeadChunks.fromSystemProperty(cpu, 32768))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(HeadChunks.PROPERTY);
        } finally {
            if (old == null) System.clearProperty(HeadChunks.PROPERTY);
            else System.setProperty(HeadChunks.PROPERTY, old);
        }
    }
}

package plaid.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.cpu.CpuBackend;
import plaid.model.DiffusionObjective;
import plaid.model.Parameter;
import plaid.model.PlaidParameters;
import plaid.model.TestModels;
import plaid.model.TrainingMemory;
import plaid.model.head.HeadChunks;
import plaid.options.PlaidConfig;

/**
 * The chunked output head (issue 17) on CUDA against the CPU reference's whole head, through the training
 * objective of a small random model whose rows·S is not a multiple of the chunk, the self-conditioning
 * pass two rows at a time: x̂, the loss's terms and
 * every parameter gradient, to the bounds DenoiserParityTest holds each mode to. Skipped, with the
 * reason, on machines without a usable GPU, unless {@code -Dplaid.cuda.required=true}.
 */
class ChunkedHeadCudaTest {
    private static final int ROWS = 6, SEQ = 96, RECONST_ROWS = 2;

    private static CudaBackend gpu;

    @BeforeAll
    static void openDevice() {
        CudaRequirement.requireCuda();
        gpu = new CudaBackend(CudaOptions.fromSystemProperties().withPrecision(GemmPrecision.FP32));
    }

    @AfterAll
    static void closeDevice() {
        if (gpu != null) gpu.close();
    }

    private static PlaidConfig config(String mode) {
        PlaidConfig c = PlaidConfig.defaults();
        c.dim = 64;
        c.nBlocks = 2;
        c.nHeads = 2;
        c.vocabSize = 1000;
        c.embedDim = 16;
        c.seqLen = SEQ;
        c.batchSize = ROWS;
        return TestModels.inMode(c, mode);
    }

    /** The CPU reference's weights, with noise on every value so the zero-initialised readouts matter. */
    private static PlaidParameters reference(PlaidConfig c) {
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 7);
        TestModels.perturb(p, new SplittableRandom(29));
        return p;
    }

    private static DiffusionObjective.MicroBatch microBatch(PlaidConfig c) {
        SplittableRandom rng = new SplittableRandom(31);
        float[] mask = new float[ROWS];
        for (int i = 0; i < ROWS; i += 2) mask[i] = 1f;
        return new DiffusionObjective.MicroBatch(
                rng.ints((long) ROWS * SEQ, 0, c.vocabSize).toArray(),
                SEQ,
                DiffusionObjective.lowDiscrepancyTimes(ROWS, RECONST_ROWS, 0.61),
                mask,
                DiffusionObjective.gaussian(rng, ROWS * SEQ * c.embedDim),
                Segments.whole(ROWS, SEQ),
                RECONST_ROWS,
                RECONST_ROWS,
                0.8,
                0.5,
                1.0);
    }

    /** x̂, the loss's terms and every gradient of one evaluate with backward, by name. */
    private static Map<String, double[]> run(
            PlaidConfig c, PlaidParameters p, TrainingMemory memory, DiffusionObjective.MicroBatch mb) {
        p.zeroGrads();
        DiffusionObjective objective = new DiffusionObjective(c, p, memory);
        DiffusionObjective.Result r = objective.evaluate(mb, true);
        ComputeBackend be = p.backend();
        Map<String, double[]> out = new LinkedHashMap<>();
        out.put("loss", new double[] {r.loss(), r.nll(), r.reconstTerm(), r.prior()});
        out.put("reconst", r.reconst());
        out.put("x_reconst", doubles(be.download(objective.denoiser(ROWS, SEQ).xReconst())));
        for (Parameter q : p.all()) out.put(q.group() + "." + q.name(), doubles(be.download(q.grad())));
        return out;
    }

    @ParameterizedTest(name = "{0}, {1}, {2} rows a chunk")
    @CsvSource({
        "token, FP32, 100",
        "token, FP32, 256",
        "BoW_embedding, FP32, 250",
        "token, BF16, 100",
        "token, BF16, 4096",
    })
    void chunkedHeadOnCudaMatchesTheCpuReference(String mode, GemmPrecision precision, int rowsPerChunk) {
        PlaidConfig c = config(mode);
        PlaidParameters cpu = reference(c);
        CudaBackend face = gpu.withOptions(gpu.options().withPrecision(precision));
        PlaidParameters cuda = PlaidParameters.fromStateDicts(c, face, cpu.toStateDicts());
        DiffusionObjective.MicroBatch mb = microBatch(c);
        Map<String, double[]> expected = run(c, cpu, TrainingMemory.WHOLE, mb);
        Map<String, double[]> actual = run(c, cuda, new TrainingMemory(new HeadChunks(rowsPerChunk), 2), mb);
        boolean bf16 = face.bf16Arithmetic();
        double forward = bf16 ? 2e-2 : 1e-4, loss = bf16 ? 2e-2 : 1e-5, gradient = bf16 ? 5e-2 : 1e-3;
        for (var e : expected.entrySet()) {
            String name = e.getKey();
            double bound = name.equals("x_reconst")
                    ? forward
                    : name.equals("loss") || name.equals("reconst") ? loss : gradient;
            assertThat(relativeError(actual.get(name), e.getValue()))
                    .as("%s, %s, %d rows a chunk: %s", mode, precision, rowsPerChunk, name)
                    .isLessThan(bound);
        }
    }

    private static double relativeError(double[] actual, double[] expected) {
        double num = 0, den = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    private static double[] doubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}

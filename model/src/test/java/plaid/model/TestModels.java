package plaid.model;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.options.PlaidConfig;

/** The small model the CPU training and gradient tests share, and the noise they put on its parameters. */
public final class TestModels {
    private TestModels() {}

    /** dim 32, 2 blocks of 2 heads, vocab 64, embed 16, 8 rows of 16; not yet validated, so callers add to it. */
    public static PlaidConfig tinyShape() {
        PlaidConfig c = PlaidConfig.defaults();
        c.dim = 32;
        c.nBlocks = 2;
        c.nHeads = 2;
        c.vocabSize = 64;
        c.embedDim = 16;
        c.seqLen = 16;
        c.batchSize = 8;
        return c;
    }

    /** {@code c} in diffusion mode {@code mode}, the bow modes with bow_cumsum_gamma 0.5; validated. */
    public static PlaidConfig inMode(PlaidConfig c, String mode) {
        c.diffusionMode = mode;
        if (!mode.equals("token")) c.bowCumsumGamma = 0.5;
        return c.validate();
    }

    /** Adds N(0, 0.05²) noise to every parameter value, so the zero-initialised readouts pass gradient too. */
    public static void perturb(PlaidParameters p, SplittableRandom rng) {
        for (Parameter q : p.all()) {
            float[] v = p.backend().download(q.value());
            for (int k = 0; k < v.length; k++) v[k] += (float) (0.05 * rng.nextGaussian());
            p.backend().upload(v, q.value());
        }
    }

    /** Rows, sequence length and reconstruction rows of {@link #objectiveResults}' micro-batch. */
    public static final int OBJECTIVE_ROWS = 8, OBJECTIVE_SEQ = 64, OBJECTIVE_RECONST_ROWS = 3;

    /** The tiny model with {@code blocks} blocks, V 96 and sequences of {@value #OBJECTIVE_SEQ}, in {@code mode}. */
    public static PlaidConfig objectiveConfig(String mode, int blocks) {
        PlaidConfig c = TrainerTest.tinyConfig();
        c.nBlocks = blocks;
        c.vocabSize = 96;
        c.seqLen = OBJECTIVE_SEQ;
        return inMode(c, mode);
    }

    /**
     * Everything one evaluate with backward of the training objective yields, by name (the loss terms,
     * per-row values, x̂, x_selfcond and every parameter's gradient), for a model of {@code c} initialised
     * and perturbed from fixed seeds on {@code be} and a fixed micro-batch whose rows take both the
     * self-conditioning path and the other, so that Ê gets gradient from some rows only.
     */
    public static Map<String, double[]> objectiveResults(PlaidConfig c, ComputeBackend be, TrainingMemory memory) {
        int rows = OBJECTIVE_ROWS, seq = OBJECTIVE_SEQ, reconstRows = OBJECTIVE_RECONST_ROWS;
        PlaidParameters p = PlaidParameters.initialize(c, be, 5);
        SplittableRandom rng = new SplittableRandom(23);
        perturb(p, rng);
        p.zeroGrads();
        int[] tokens = rng.ints((long) rows * seq, 0, c.vocabSize).toArray();
        double[] t = DiffusionObjective.lowDiscrepancyTimes(rows, reconstRows, 0.37);
        float[] mask = new float[rows];
        for (int i = 1; i < rows; i += 2) mask[i] = 1f;
        var mb = new DiffusionObjective.MicroBatch(
                tokens,
                seq,
                t,
                mask,
                DiffusionObjective.gaussian(rng, rows * seq * c.embedDim),
                Segments.whole(rows, seq),
                reconstRows,
                reconstRows,
                0.7,
                0.5,
                0.5);
        DiffusionObjective objective = new DiffusionObjective(c, p, memory);
        DiffusionObjective.Result r = objective.evaluate(mb, true);
        Map<String, double[]> out = new LinkedHashMap<>();
        out.put("loss, nll", new double[] {r.loss(), r.nll()});
        out.put("reconst", r.reconst());
        out.put("diffusion", r.diffusion());
        out.put("x_selfcond", toDoubles(r.xSelfcond()));
        out.put("x_reconst", toDoubles(be.download(objective.denoiser(rows, seq).xReconst())));
        for (Parameter q : p.all()) out.put(q.group() + "." + q.name(), toDoubles(be.download(q.grad())));
        return out;
    }

    public static double[] toDoubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}

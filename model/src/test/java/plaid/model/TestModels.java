package plaid.model;

import java.util.SplittableRandom;
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
}

package plaid.model.sampling;

import java.util.SplittableRandom;
import plaid.backend.cpu.CpuBackend;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;

/** A model small enough to sample and evaluate in milliseconds on the CPU backend. */
final class TinyModel {
    private TinyModel() {}

    static PlaidConfig config(int vocabSize) {
        PlaidConfig c = PlaidConfig.defaults();
        c.vocabSize = vocabSize;
        c.dim = 32;
        c.nBlocks = 2;
        c.nHeads = 2;
        c.embedDim = 16;
        return c;
    }

    /**
     * {@link #config}, or on a device the small shape's width and heads with 4 blocks: a GPU's products pick
     * their algorithms by shape, so the device tests run shapes like the ones served.
     */
    static PlaidConfig config(int vocabSize, boolean onDevice) {
        PlaidConfig c = config(vocabSize);
        if (onDevice) {
            c.dim = 384;
            c.nBlocks = 4;
            c.nHeads = 6;
        }
        return c;
    }

    /** As the original initialises it: the zero-initialised head makes the denoiser pick the embedding nearest to z. */
    static PlaidParameters initialised(int vocabSize, long seed) {
        return PlaidParameters.initialize(config(vocabSize), new CpuBackend(), seed);
    }

    /** With the zero-initialised layers given random values too, so every path of the model matters. */
    static PlaidParameters randomised(int vocabSize, long seed) {
        return randomise(initialised(vocabSize, seed), seed);
    }

    /** Gives {@code p}'s zero-initialised layers random values, on whatever backend it lives. */
    static PlaidParameters randomise(PlaidParameters p, long seed) {
        SplittableRandom rng = new SplittableRandom(seed + 1);
        for (String name : new String[] {
            "selfcond_linear.weight", "gamma_linear.weight", "output_linear.weight", "output_linear.bias"
        }) {
            var value = p.model(name).value();
            float[] v = new float[(int) value.numel()];
            for (int i = 0; i < v.length; i++) v[i] = (float) (0.1 * rng.nextGaussian());
            p.backend().upload(v, value);
        }
        return p;
    }
}

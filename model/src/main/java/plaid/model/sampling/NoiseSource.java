package plaid.model.sampling;

import java.util.SplittableRandom;

/**
 * The sampler's Gaussian draws, standard normal and in the order sample.py makes them:
 * first the initial latent, then one tensor per step with t > 0 (ancestral updates only).
 * Replaying recorded draws reproduces the original's samples.
 */
public interface NoiseSource {
    /** Fills {@code out} (the latent [N, S, E], row-major) with the initial noise. */
    void initialLatent(double[] out);

    /** Fills {@code out} ([N, S, E]) with the next ancestral step's noise. */
    void stepNoise(double[] out);

    /** Independent N(0, 1) values from {@code seed}: the same seed gives the same samples. */
    static NoiseSource seeded(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        return new NoiseSource() {
            @Override
            public void initialLatent(double[] out) {
                fill(out);
            }

            @Override
            public void stepNoise(double[] out) {
                fill(out);
            }

            private void fill(double[] out) {
                for (int i = 0; i < out.length; i++) out[i] = rng.nextGaussian();
            }
        };
    }
}

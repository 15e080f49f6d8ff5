package plaid.model.sampling;

import java.util.List;
import plaid.backend.MatmulPrecision;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;

/**
 * sample.py's {@code generate_samples} (VDM appendix A.4, eq. 33): from z ~ N(0, 1)·scale,
 * T denoising steps at t = linspace(1, 0, T) to s = t − 1/T with ancestral or DDIM
 * updates, self-conditioning carried from step to step, optional guidance, and the argmax
 * of a final model call. The sampler state is float64 as in the original; the model sees
 * z and γ_t cast to float32, as there. In the fork's BoW modes the state z lives in bow space
 * (plaid-reference §7): a token-space x̂ is converted with bow before the update and before it
 * is fed back for self-conditioning. Matrix products run in TF32, as sample.py sets
 * {@code torch.backends.cuda.matmul.allow_tf32 = True} before generating ({@link MatmulPrecision}):
 * near-tied logits at the end of a trajectory follow that rounding. Not thread-safe: one call at a time.
 */
public final class DiffusionSampler {
    private final PlaidConfig config;
    private final PlaidParameters params;
    private final int maxSeqLen;

    /** @param maxSeqLen the longest seq_len a request may ask for (memory grows with N·S·V) */
    public DiffusionSampler(PlaidConfig config, PlaidParameters params, int maxSeqLen) {
        if (maxSeqLen <= 0) throw new IllegalArgumentException("maxSeqLen must be positive, got " + maxSeqLen);
        this.config = config;
        this.params = params;
        this.maxSeqLen = maxSeqLen;
    }

    /** Samples [N][S] token ids. */
    public int[][] sample(SamplingRequest request, NoiseSource noise) {
        return sample(request, noise, 0, null);
    }

    /**
     * Samples [N][S] token ids, handing {@code listener} the argmax of the model's logits
     * after every {@code decodeEvery}-th step (no extra model calls).
     */
    public int[][] sample(SamplingRequest request, NoiseSource noise, int decodeEvery, PartialDecodeListener listener) {
        // one trajectory alone in a batch of the weights as they are now: the code a server's shared batch runs
        SamplerBatch batch = new SamplerBatch(config, params, maxSeqLen);
        Trajectory trajectory = batch.start(request, noise, decodeEvery, listener);
        return batch.session(() -> {
            List<Trajectory> only = List.of(trajectory);
            while (!trajectory.finished()) batch.step(only);
            return trajectory.result();
        });
    }

    /** torch.linspace's values exactly: the first half counted from the start, the second from the end. */
    static double[] torchLinspace(double start, double end, int steps) {
        double[] out = new double[steps];
        if (steps == 1) {
            out[0] = start;
            return out;
        }
        double step = (end - start) / (steps - 1);
        int halfway = steps / 2;
        for (int i = 0; i < steps; i++) out[i] = i < halfway ? start + step * i : end - step * (steps - i - 1);
        return out;
    }

    private static double sigmoid(double x) {
        return 1.0 / (1.0 + Math.exp(-x));
    }
}

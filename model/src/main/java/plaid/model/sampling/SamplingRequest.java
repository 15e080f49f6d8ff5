package plaid.model.sampling;

import java.util.List;
import java.util.Objects;

/**
 * One call of sample.py's {@code generate_samples}: how many sequences of which length,
 * the sampler's settings and the guidance terms. Settings that are wrong whatever the
 * model is are rejected here; {@link DiffusionSampler} checks the rest (vocabulary, the
 * allowed length). Errors name the option as the original spells it.
 *
 * @param samples           n_samples: sequences generated together
 * @param seqLen            seq_len
 * @param steps             sampling_timesteps T
 * @param scoreTemp         score_temp: ε̂ is divided by it
 * @param initialNoiseScale initial_noise_scale: z starts as N(0, 1)·scale
 * @param update            ancestral (VDM eq. 33) or DDIM
 * @param guidance          guidance terms (empty: unconditional)
 * @param useSecondaryLogits the fork's use_secondary_logits: with double_logit_reg, guidance and the final
 *                          argmax read the secondary logits instead of the primary ones
 */
public record SamplingRequest(
        int samples,
        int seqLen,
        int steps,
        double scoreTemp,
        double initialNoiseScale,
        Update update,
        List<GuidanceTerm> guidance,
        boolean useSecondaryLogits) {

    /** How z moves from t to s = t − 1/T. */
    public enum Update {
        ANCESTRAL,
        DDIM
    }

    public SamplingRequest {
        Objects.requireNonNull(update, "update");
        guidance = List.copyOf(guidance);
        require(samples > 0, "n_samples must be positive, got " + samples);
        require(seqLen > 0, "seq_len must be positive, got " + seqLen);
        require(steps > 0, "sampling_timesteps must be positive, got " + steps);
        require(
                scoreTemp > 0 && Double.isFinite(scoreTemp),
                "score_temp must be positive and finite, got " + scoreTemp);
        require(
                initialNoiseScale > 0 && Double.isFinite(initialNoiseScale),
                "initial_noise_scale must be positive and finite, got " + initialNoiseScale);
        for (int k = 0; k < guidance.size(); k++) {
            GuidanceTerm term = guidance.get(k);
            require(Double.isFinite(term.weight()), "guidance[" + k + "].weight must be finite, got " + term.weight());
            if (term.position() instanceof GuidanceTerm.At(int index)) {
                require(
                        index >= 0 && index < seqLen,
                        "guidance[" + k + "].position " + index + " is outside the sequence [0, " + seqLen + ")");
            }
        }
    }

    /** A request reading the primary logits. */
    public SamplingRequest(
            int samples,
            int seqLen,
            int steps,
            double scoreTemp,
            double initialNoiseScale,
            Update update,
            List<GuidanceTerm> guidance) {
        this(samples, seqLen, steps, scoreTemp, initialNoiseScale, update, guidance, false);
    }

    /** sample.py's defaults: 8 samples, 4096 steps, score_temp 0.9, noise scale 1, ancestral, unguided. */
    public static SamplingRequest defaults(int seqLen) {
        return new SamplingRequest(8, seqLen, 4096, 0.9, 1.0, Update.ANCESTRAL, List.of());
    }

    public SamplingRequest withSamples(int n) {
        return new SamplingRequest(
                n, seqLen, steps, scoreTemp, initialNoiseScale, update, guidance, useSecondaryLogits);
    }

    public SamplingRequest withSteps(int t) {
        return new SamplingRequest(
                samples, seqLen, t, scoreTemp, initialNoiseScale, update, guidance, useSecondaryLogits);
    }

    public SamplingRequest withScoreTemp(double temp) {
        return new SamplingRequest(
                samples, seqLen, steps, temp, initialNoiseScale, update, guidance, useSecondaryLogits);
    }

    public SamplingRequest withInitialNoiseScale(double scale) {
        return new SamplingRequest(samples, seqLen, steps, scoreTemp, scale, update, guidance, useSecondaryLogits);
    }

    public SamplingRequest withUpdate(Update u) {
        return new SamplingRequest(
                samples, seqLen, steps, scoreTemp, initialNoiseScale, u, guidance, useSecondaryLogits);
    }

    public SamplingRequest withGuidance(List<GuidanceTerm> terms) {
        return new SamplingRequest(
                samples, seqLen, steps, scoreTemp, initialNoiseScale, update, terms, useSecondaryLogits);
    }

    public SamplingRequest withSecondaryLogits(boolean secondary) {
        return new SamplingRequest(samples, seqLen, steps, scoreTemp, initialNoiseScale, update, guidance, secondary);
    }

    /** The checks that need the model: token ids inside its vocabulary, the length within what the caller allows. */
    void validateFor(int vocabSize, int maxSeqLen) {
        require(seqLen <= maxSeqLen, "seq_len " + seqLen + " exceeds the allowed " + maxSeqLen);
        for (int k = 0; k < guidance.size(); k++) {
            int token = guidance.get(k).token();
            require(
                    token >= 0 && token < vocabSize,
                    "guidance[" + k + "].token " + token + " is outside the vocabulary [0, " + vocabSize + ")");
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }
}

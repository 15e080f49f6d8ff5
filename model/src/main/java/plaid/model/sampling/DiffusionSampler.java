package plaid.model.sampling;

import java.util.Arrays;
import java.util.List;
import plaid.backend.ComputeBackend;
import plaid.backend.MatmulPrecision;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.model.Denoiser;
import plaid.model.EmbeddingMatrix;
import plaid.model.NoiseSchedule;
import plaid.model.Parameter;
import plaid.model.ParameterGroup;
import plaid.options.PlaidConfig;
import plaid.model.PlaidParameters;
import plaid.model.bow.BowTransform;

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
    private final PlaidParameters params;
    private final ComputeBackend be;
    private final PlaidConfig config;
    private final int maxSeqLen;

    /** @param maxSeqLen the longest seq_len a request may ask for (memory grows with N·S·V) */
    public DiffusionSampler(PlaidParameters params, int maxSeqLen) {
        if (maxSeqLen <= 0) throw new IllegalArgumentException("maxSeqLen must be positive, got " + maxSeqLen);
        this.params = params;
        this.be = params.backend();
        this.config = params.config();
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
        // the weights are read-only while sampling: a backend may keep derived copies of them for the call
        List<Tensor> weights = params.all().stream().map(Parameter::value).toList();
        return MatmulPrecision.withTf32(() -> be.withReadOnly(weights, () -> sampleInTf32(request, noise, decodeEvery, listener)));
    }

    private int[][] sampleInTf32(SamplingRequest request, NoiseSource noise, int decodeEvery, PartialDecodeListener listener) {
        request.validateFor(config.vocabSize, maxSeqLen);
        if (listener != null && decodeEvery <= 0) throw new IllegalArgumentException("decodeEvery must be positive, got " + decodeEvery);
        int rows = request.samples(), seqLen = request.seqLen(), steps = request.steps();
        int size = rows * seqLen * config.embedDim;

        // the weights as they are now: Ê, the schedule and γ's bounds (float32 parameters, used in float64)
        Tensor embedding = be.allocate(config.vocabSize, config.embedDim);
        be.upload(params.normalizedEmbedding(), embedding);
        NoiseSchedule schedule = params.noiseSchedule();
        double[] bounds = params.gammaBounds();
        double gamma0 = bounds[0], gamma1 = bounds[1];

        ModelCall model = new ModelCall(new Denoiser(params, rows, seqLen, request.useSecondaryLogits()), embedding);
        GuidanceGradient guidance = request.guidance().isEmpty() ? null : new GuidanceGradient(be, config.vocabSize, config.embedDim);
        double[] z = new double[size];
        noise.initialLatent(z);
        for (int k = 0; k < size; k++) z[k] *= request.initialNoiseScale();
        double[] stepNoise = new double[size];

        double[] times = torchLinspace(1.0, 0.0, steps);
        double gammaT = Double.NaN;
        for (int i = 0; i < steps; i++) {
            double t = times[i], s = t - 1.0 / steps; // 1/T, not 1/(T−1), as the original
            double gammaS = gamma0 + (gamma1 - gamma0) * schedule.gammaTilde(s);
            gammaT = gamma0 + (gamma1 - gamma0) * schedule.gammaTilde(t);
            double alphaSquaredS = sigmoid(-gammaS), alphaS = Math.sqrt(alphaSquaredS), sigmaS = Math.sqrt(sigmoid(gammaS));
            double alphaT = Math.sqrt(sigmoid(-gammaT)), sigmaSquaredT = sigmoid(gammaT), sigmaT = Math.sqrt(sigmaSquaredT);

            model.queue(z, gammaT, guidance != null);
            boolean move = t > 0;
            boolean ancestral = request.update() == SamplingRequest.Update.ANCESTRAL;
            // drawn while a device backend runs the forward just queued (≈ 1 ms of host time at 8 × 1024 × 16)
            if (move && ancestral) noise.stepNoise(stepNoise);
            float[] xModel = model.reconst();
            float[] guidanceGrad = guidance == null ? null : guidance.compute(model.denoiser, request.guidance());
            model.keepSelfConditioning();
            if (listener != null && (i + 1) % decodeEvery == 0) listener.onPartialDecode(i + 1, model.argmax());

            double c = -Math.expm1(gammaS - gammaT);
            double keep = (1 - c) * alphaS / alphaT, noiseStd = Math.sqrt(c * (1 - alphaSquaredS));
            for (int k = 0; k < size; k++) {
                // ε̂ from x̂, tempered, and x̂ recomputed from it (the operations in sample.py's order)
                double x = xModel[k];
                double eps = (z[k] - alphaT * x) / sigmaT / request.scoreTemp();
                x = (z[k] - sigmaT * eps) / alphaT;
                if (guidanceGrad != null) {
                    x += guidanceGrad[k] * sigmaSquaredT / alphaT;
                    eps = (z[k] - alphaT * x) / sigmaT;
                }
                if (!move) continue;
                if (ancestral) {
                    double zk = z[k] * keep;
                    zk += c * (alphaS * x);
                    z[k] = zk + noiseStd * stepNoise[k];
                } else {
                    z[k] = alphaS * x + sigmaS * eps;
                }
            }
        }
        model.queue(z, gammaT, false);
        return model.argmax();
    }

    /** The denoiser with sample.py's fixed arguments: bias scale 1, every row on the self-conditioning path. */
    private final class ModelCall {
        final Denoiser denoiser;
        final Tensor embedding;
        final Tensor z;
        final Tensor xSelfcond;
        final Segments segments;
        /** Converts the head's token-space x̂ to bow space; null when x̂ is already in z's space. */
        final BowTransform reconstToBow;
        float[] latestReconst;

        ModelCall(Denoiser denoiser, Tensor embedding) {
            this.denoiser = denoiser;
            this.embedding = embedding;
            this.z = be.allocate(denoiser.rows() * denoiser.seqLen(), config.embedDim);
            this.xSelfcond = be.allocate(denoiser.rows() * denoiser.seqLen(), config.embedDim);
            this.segments = Segments.whole(denoiser.rows(), denoiser.seqLen());
            this.reconstToBow = config.diffusionMode().convertsReconstToBow() ? config.bowTransform() : null;
        }

        /**
         * Queues the forward on float32(z) at float32(γ), kept for a backward when {@code guided}; a device
         * backend returns before it has run.
         */
        void queue(double[] zState, double gamma, boolean guided) {
            float[] zf = new float[zState.length];
            for (int k = 0; k < zf.length; k++) zf[k] = (float) zState[k];
            be.upload(zf, z);
            double[] gammas = new double[denoiser.rows()];
            Arrays.fill(gammas, (float) gamma);
            denoiser.forward(z, gammas, embedding, 1.0, xSelfcond, null, segments, guided);
        }

        /** x̂ of the forward queued last, in z's space (waits for it). */
        float[] reconst() {
            latestReconst = be.download(denoiser.xReconst());
            if (reconstToBow != null) latestReconst = reconstToBow.toBow(latestReconst, denoiser.rows(), denoiser.seqLen(), config.embedDim);
            return latestReconst;
        }

        /** The latest x̂ becomes the next call's self-conditioning input. */
        void keepSelfConditioning() {
            be.upload(latestReconst, xSelfcond);
        }

        /** Argmax over the vocabulary of the latest logits, per sample and position (first maximum on ties). */
        int[][] argmax() {
            int rows = denoiser.rows(), seqLen = denoiser.seqLen();
            int[] best = be.argmaxRows(denoiser.logits());
            int[][] tokens = new int[rows][];
            for (int b = 0; b < rows; b++) tokens[b] = Arrays.copyOfRange(best, b * seqLen, (b + 1) * seqLen);
            return tokens;
        }
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

package plaid.model;

import java.util.HashMap;
import java.util.Map;
import java.util.stream.IntStream;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.options.PlaidConfig;
import plaid.options.bow.BowTransform;
import plaid.options.bow.DiffusionMode;

/**
 * train.py's {@code forward}: the variational bound on one micro-batch, with every random
 * draw made explicit ({@link MicroBatch}), and its exact gradients (plaid-reference §3),
 * including the noise schedule's variance-minimising gradient.
 *
 * <p>In the fork's {@code BoW_embedding} mode (plaid-reference §7) diffusion runs on the clean
 * latent bow(x_embed) instead of x_embed: z, the prior and the diffusion term use it, and the
 * token-mode head's x̂ is converted with bow before it meets them or feeds self-conditioning.
 * {@code embedRegularizerLambda}·‖M‖² on the raw embedding matrix joins the loss in any mode. With
 * {@code double_logit_reg} the reconstruction term reads the primary logits, and
 * {@code reconstSecondaryWeight} × the same term on the secondary logits joins the loss (not the nll).
 */
public final class DiffusionObjective {
    private final PlaidParameters params;
    private final ComputeBackend be;
    private final PlaidConfig c;
    private final Map<Integer, Denoiser> denoisers = new HashMap<>();
    private final Map<Integer, Tensor[]> buffers = new HashMap<>();
    /** The bow transform in the BoW modes; null in token mode, where nothing is converted. */
    private final BowTransform bow;
    /** Whether the denoiser's x̂ is token-space and needs converting ({@link DiffusionMode#convertsReconstToBow}). */
    private final boolean convertReconst;

    /** How the denoisers hold the logits, the self-conditioning pass's rows and the blocks' activations ({@link TrainingMemory}). */
    private final TrainingMemory memory;

    /**
     * As {@code -Dplaid.head.chunkRows}, {@code -Dplaid.selfcond.rowsPerPass} and {@code -Dplaid.recompute.blocks}
     * ask ({@link TrainingMemory}).
     */
    public DiffusionObjective(PlaidConfig config, PlaidParameters params) {
        this(config, params, TrainingMemory.fromSystemProperties(params.backend(), config));
    }

    /** @param memory how the denoisers hold their logits and activations; the results do not depend on it */
    public DiffusionObjective(PlaidConfig config, PlaidParameters params, TrainingMemory memory) {
        this.params = params;
        this.memory = memory;
        this.be = params.backend();
        this.c = config;
        DiffusionMode mode = c.diffusionMode();
        this.bow = mode.inBowSpace() ? c.bowTransform() : null;
        this.convertReconst = mode.convertsReconstToBow();
    }

    /** How this objective's denoisers hold what grows with the batch. */
    public TrainingMemory memory() {
        return memory;
    }

    /** Token-space latents [rows, S, E] in the space diffusion runs in. */
    private float[] toDiffusionSpace(float[] x, int rows, int seqLen) {
        return bow == null ? x : bow.toBow(x, rows, seqLen, c.embedDim);
    }

    /** The transpose of {@link #toDiffusionSpace}: d/d(token-space) from d/d(diffusion space). */
    private float[] toDiffusionSpaceBackward(float[] d, int rows, int seqLen) {
        return bow == null ? d : bow.toBowBackward(d, rows, seqLen, c.embedDim);
    }

    /** The denoiser's x̂ [rows, S, E] in diffusion space. */
    private float[] reconstInDiffusionSpace(float[] xHat, int rows, int seqLen) {
        return convertReconst ? toDiffusionSpace(xHat, rows, seqLen) : xHat;
    }

    /** The transpose of {@link #reconstInDiffusionSpace}. */
    private float[] reconstInDiffusionSpaceBackward(float[] d, int rows, int seqLen) {
        return convertReconst ? toDiffusionSpaceBackward(d, rows, seqLen) : d;
    }

    /**
     * One micro-batch with its randomness drawn.
     *
     * @param tokens          ids [rows·S]
     * @param t               diffusion time per row (rows < reconstBs are 0)
     * @param selfcondMask    1 where the row uses self-conditioning
     * @param eps             standard normal noise [rows·S·E]
     * @param segments        attention segments (split rows)
     * @param reconstBs       rows computing the reconstruction term
     * @param avgReconstBs    the normaliser of the reconstruction term
     * @param biasScale       weight of the zb logit bias
     * @param avgSelfcondMask fraction of rows on the self-conditioning path (the nll's normaliser)
     * @param gradScale       factor on the gradient (1/grad_accum_steps)
     */
    public record MicroBatch(
            int[] tokens,
            int seqLen,
            double[] t,
            float[] selfcondMask,
            float[] eps,
            Segments segments,
            int reconstBs,
            double avgReconstBs,
            double biasScale,
            double avgSelfcondMask,
            double gradScale) {
        public int rows() {
            return t.length;
        }
    }

    /**
     * Eval mode (validation and zero-shot likelihood): R = B div 8 plus one with probability
     * (B mod 8)/8, avg_R = B/8, t from one uniform offset, every row self-conditioned, full
     * bias, no split rows.
     */
    public static MicroBatch evalMicroBatch(
            int[] tokens, int rows, int seqLen, int embedDim, java.util.SplittableRandom rng) {
        int reconstBs = rows / 8 + (rng.nextDouble() < (rows % 8) / 8.0 ? 1 : 0);
        double[] t = lowDiscrepancyTimes(rows, reconstBs, rng.nextDouble());
        float[] mask = new float[rows];
        java.util.Arrays.fill(mask, 1f);
        float[] eps = gaussian(rng, rows * seqLen * embedDim);
        return new MicroBatch(
                tokens, seqLen, t, mask, eps, Segments.whole(rows, seqLen), reconstBs, rows / 8.0, 1.0, 1.0, 0.0);
    }

    /** t = 0 for the first {@code reconstBs} rows, then (k + u)/(B − R): the low-discrepancy sampler. */
    public static double[] lowDiscrepancyTimes(int batch, int reconstBs, double u) {
        double[] t = new double[batch];
        for (int k = 0; k < batch - reconstBs; k++) t[reconstBs + k] = (k + u) / (batch - reconstBs);
        return t;
    }

    /** Standard normal noise ε. */
    public static float[] gaussian(java.util.SplittableRandom rng, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) out[i] = (float) rng.nextGaussian();
        return out;
    }

    /** The loss terms as train.py returns them, and the per-row values the fixtures record. */
    public record Result(
            double loss,
            double nll,
            double reconstTerm,
            double prior,
            double gamma0,
            double gamma1,
            int reconstBs,
            double[] reconst,
            double[] diffusion,
            double[] gamma,
            float[] xSelfcond,
            double secondaryReconstTerm) {}

    /** The denoiser that served the latest main pass of {@code rows} rows (its logits, x̂). */
    public Denoiser denoiser(int rows, int seqLen) {
        return denoisers.computeIfAbsent(
                rows * 1_000_003 + seqLen,
                k -> new Denoiser(c, params, rows, seqLen, false, memory.headChunks(), memory.recomputedBlocks()));
    }

    private Tensor[] buffers(int rows, int seqLen) {
        return buffers.computeIfAbsent(rows * 1_000_003 + seqLen, k -> new Tensor[] {
            be.allocate(rows * seqLen, c.embedDim), // z
            be.allocate(rows * seqLen, c.embedDim), // x_sc
            be.allocate(rows * seqLen, c.embedDim), // dx̂
            be.allocate(rows * seqLen, c.embedDim), // x_embed
        });
    }

    /** Forward, and when {@code backward} the gradients accumulated into every parameter. */
    public Result evaluate(MicroBatch mb, boolean backward) {
        int rows = mb.rows(), seqLen = mb.seqLen(), e = c.embedDim, tokens = rows * seqLen;
        int r = mb.reconstBs();
        if (mb.tokens().length != tokens)
            throw new IllegalArgumentException("tokens: " + mb.tokens().length + " ids for " + rows + "×" + seqLen);
        if (r < 0 || r > rows) throw new IllegalArgumentException("reconst_bs " + r + " outside [0, " + rows + "]");
        Tensor[] buf = buffers(rows, seqLen);
        Tensor zT = buf[0], xScT = buf[1], dXrT = buf[2], xEmbT = buf[3];

        // Ê and the schedule
        float[] m = be.download(
                params.get(ParameterGroup.EMBEDDING_MATRIX, "matrix").value());
        Tensor embedding = be.allocate(c.vocabSize, e);
        be.upload(EmbeddingMatrix.normalize(m, e), embedding);
        NoiseSchedule schedule = params.noiseSchedule();
        double[] bounds = params.gammaBounds();
        double g0 = bounds[0], g1 = bounds[1];
        double[] gt = new double[rows], gtp = new double[rows], gamma = new double[rows], gammaPrime = new double[rows];
        double[] alpha = new double[rows], sigma = new double[rows], snrPrime = new double[rows];
        for (int i = 0; i < rows; i++) {
            gt[i] = schedule.gammaTilde(mb.t()[i]);
            gtp[i] = i < r ? 0.0 : schedule.gammaTildePrime(mb.t()[i]); // rows < R: γ̃ detached, so no dγ̃/dt
            gamma[i] = g0 + (g1 - g0) * gt[i];
            gammaPrime[i] = (g1 - g0) * gtp[i];
            alpha[i] = Math.sqrt(NoiseLevel.alphaSquared(gamma[i]));
            sigma[i] = Math.sqrt(NoiseLevel.sigmaSquared(gamma[i]));
            snrPrime[i] = -Math.exp(-gamma[i]) * gammaPrime[i];
        }

        // z = α x₀ + σ ε with the clean latent x₀ = x_embed, or bow(x_embed)
        be.gather(embedding, mb.tokens(), xEmbT);
        float[] target = toDiffusionSpace(be.download(xEmbT), rows, seqLen);
        float[] z = new float[tokens * e];
        int perRow = seqLen * e;
        for (int i = 0; i < rows; i++) {
            for (int k = i * perRow; k < (i + 1) * perRow; k++) {
                z[k] = (float) ((float) (mb.eps()[k] * sigma[i]) + alpha[i] * target[k]);
            }
        }
        be.upload(z, zT);

        // self-conditioning pass (no gradient) on the rows with m = 1, a few rows at a time: a row's x̂ does not
        // depend on the others', and the pass's denoiser holds activations for the rows of one pass only
        float[] xSelfcond = new float[tokens * e];
        int[] scRows =
                IntStream.range(0, rows).filter(i -> mb.selfcondMask()[i] != 0f).toArray();
        int perPass = memory.selfcondRowsPerPass() > 0 ? memory.selfcondRowsPerPass() : Math.max(1, scRows.length);
        for (int lo = 0; lo < scRows.length; lo += perPass) {
            int[] pass = java.util.Arrays.copyOfRange(scRows, lo, Math.min(scRows.length, lo + perPass));
            selfcondPass(pass, z, gamma, embedding, mb, xSelfcond);
        }
        be.upload(xSelfcond, xScT);

        // main pass
        Denoiser main = denoiser(rows, seqLen);
        main.forward(zT, gamma, embedding, mb.biasScale(), xScT, mb.selfcondMask(), mb.segments(), backward);
        float[] xHat = reconstInDiffusionSpace(be.download(main.xReconst()), rows, seqLen);

        // reconstruction: mean over positions of the cross-entropy, rows < R
        int[] reconstTargets = java.util.Arrays.copyOf(mb.tokens(), r * seqLen);
        double[] reconst = reconstruction(main, false, reconstTargets, r, seqLen);
        double[] secondaryReconst =
                main.hasSecondaryLogits() ? reconstruction(main, true, reconstTargets, r, seqLen) : new double[r];

        // prior KL(N(α₁ x₀, σ₁²) ‖ N(0,1)), summed over E, mean over rows and positions
        double alpha1 = Math.sqrt(NoiseSchedule.sigmoid(-g1)), sigma1 = Math.sqrt(NoiseSchedule.sigmoid(g1));
        double prior = 0;
        for (int k = 0; k < tokens * e; k++) {
            double mu = alpha1 * target[k];
            prior += -Math.log(sigma1) + (sigma1 * sigma1 + mu * mu) / 2 - 0.5;
        }
        prior /= tokens;

        // diffusion: −½ SNR' Σ_e mean_s (x₀ − x̂)²
        double[] diffusion = new double[rows];
        double[] sqErr = new double[rows];
        for (int i = 0; i < rows; i++) {
            double total = 0;
            for (int j = 0; j < e; j++) {
                float acc = 0;
                for (int p = 0; p < seqLen; p++) {
                    int k = (i * seqLen + p) * e + j;
                    float diff = target[k] - xHat[k];
                    acc += diff * diff;
                }
                total += acc / seqLen;
            }
            sqErr[i] = total;
            diffusion[i] = -0.5 * snrPrime[i] * total;
        }

        double avgR = mb.avgReconstBs(), diffNorm = rows - avgR;
        double reconstSum = 0, reconstMasked = 0, diffSum = 0, diffMasked = 0, secondarySum = 0;
        for (int i = 0; i < r; i++) {
            secondarySum += secondaryReconst[i];
            reconstSum += reconst[i];
            reconstMasked += reconst[i] * mb.selfcondMask()[i];
        }
        for (int i = r; i < rows; i++) {
            diffSum += diffusion[i];
            diffMasked += diffusion[i] * mb.selfcondMask()[i];
        }
        double reconstTerm = r > 0 ? reconstSum / avgR : 0;
        double secondaryReconstTerm = r > 0 ? secondarySum / avgR : 0;
        double loss = c.reconstWeight * reconstTerm + (r < rows ? diffSum / diffNorm : 0) + prior;
        if (main.hasSecondaryLogits())
            loss += c.reconstSecondaryWeight * secondaryReconstTerm; // not part of the bound either
        if (c.embedRegularizerLambda != 0)
            loss += c.embedRegularizerLambda * sumOfSquares(m); // not part of the bound: nll leaves it out
        double nll = c.selfcond
                ? (r > 0 ? reconstMasked / (avgR * mb.avgSelfcondMask()) : 0)
                        + (r < rows ? diffMasked / (diffNorm * mb.avgSelfcondMask()) : 0)
                        + prior
                : reconstTerm + (r < rows ? diffSum / diffNorm : 0) + prior;

        if (backward) {
            backward(
                    mb,
                    main,
                    embedding,
                    m,
                    schedule,
                    g0,
                    g1,
                    gt,
                    gtp,
                    gamma,
                    gammaPrime,
                    alpha,
                    sigma,
                    target,
                    xHat,
                    sqErr,
                    diffusion,
                    reconstTargets,
                    alpha1,
                    sigma1,
                    dXrT);
        }
        return new Result(
                loss, nll, reconstTerm, prior, g0, g1, r, reconst, diffusion, gamma, xSelfcond, secondaryReconstTerm);
    }

    /** x̂ of the rows {@code scRows} (in diffusion space) into their rows of {@code xSelfcond}. */
    private void selfcondPass(
            int[] scRows, float[] z, double[] gamma, Tensor embedding, MicroBatch mb, float[] xSelfcond) {
        int seqLen = mb.seqLen(), e = c.embedDim, perRow = seqLen * e;
        Denoiser sc = denoiser(scRows.length, seqLen);
        Tensor zSub = be.allocate(scRows.length * seqLen, e);
        float[] zs = new float[scRows.length * perRow];
        double[] gSub = new double[scRows.length];
        for (int j = 0; j < scRows.length; j++) {
            System.arraycopy(z, scRows[j] * perRow, zs, j * perRow, perRow);
            gSub[j] = gamma[scRows[j]];
        }
        be.upload(zs, zSub);
        sc.forward(
                zSub,
                gSub,
                embedding,
                mb.biasScale(),
                be.allocate(scRows.length * seqLen, e),
                null,
                mb.segments().select(scRows),
                false);
        float[] xr = reconstInDiffusionSpace(be.download(sc.xReconst()), scRows.length, seqLen);
        for (int j = 0; j < scRows.length; j++) System.arraycopy(xr, j * perRow, xSelfcond, scRows[j] * perRow, perRow);
    }

    /** Per reconstruction row (the first {@code r}), the mean over positions of the cross-entropy of the (secondary) logits. */
    private double[] reconstruction(Denoiser denoiser, boolean secondary, int[] targets, int r, int seqLen) {
        double[] reconst = new double[r];
        if (r == 0) return reconst;
        double[] ce = denoiser.crossEntropy(targets, secondary);
        for (int i = 0; i < r; i++) {
            double s = 0;
            for (int p = 0; p < seqLen; p++) s += (float) ce[i * seqLen + p];
            reconst[i] = (float) (s / seqLen);
        }
        return reconst;
    }

    private void backward(
            MicroBatch mb,
            Denoiser main,
            Tensor embedding,
            float[] matrix,
            NoiseSchedule schedule,
            double g0,
            double g1,
            double[] gt,
            double[] gtp,
            double[] gamma,
            double[] gammaPrime,
            double[] alpha,
            double[] sigma,
            float[] target,
            float[] xHat,
            double[] sqErr,
            double[] diffusion,
            int[] reconstTargets,
            double alpha1,
            double sigma1,
            Tensor dXrT) {
        int rows = mb.rows(), seqLen = mb.seqLen(), e = c.embedDim, tokens = rows * seqLen, r = mb.reconstBs();
        int perRow = seqLen * e;
        double scale = mb.gradScale();
        double avgR = mb.avgReconstBs(), diffNorm = rows - avgR;
        float[] mask = mb.selfcondMask();

        // d loss / d logits of the reconstruction rows: (p − onehot)·rw/(avg_R·S)
        if (r > 0) {
            main.addCrossEntropyGradient(reconstTargets, (float) (scale * c.reconstWeight / (avgR * seqLen)), false);
            if (main.hasSecondaryLogits()) {
                main.addCrossEntropyGradient(
                        reconstTargets, (float) (scale * c.reconstSecondaryWeight / (avgR * seqLen)), true);
            }
        }
        // d loss / d x̂ of the diffusion rows: coef·SNR'·(x₀ − x̂)/S, in diffusion space
        double[] snrPrime = new double[rows];
        float[] dXr = new float[tokens * e];
        for (int i = r; i < rows; i++) {
            snrPrime[i] = -Math.exp(-gamma[i]) * gammaPrime[i];
            double coef = scale / diffNorm * snrPrime[i] / seqLen;
            for (int k = i * perRow; k < (i + 1) * perRow; k++) dXr[k] = (float) (coef * (target[k] - xHat[k]));
        }
        be.upload(reconstInDiffusionSpaceBackward(dXr, rows, seqLen), dXrT);
        Tensor dEmbedding = be.allocate(c.vocabSize, e);
        Denoiser.InputGradients in = main.backward(dXrT, dEmbedding, true);
        float[] dz = be.download(in.dz());

        double[] dGamma = in.dGamma().clone();
        double[] dGammaPrime = new double[rows];
        float[] dTarget = new float[tokens * e];
        double dAlpha1 = 0, dSigma1 = 0;
        double priorScale = scale / tokens;
        for (int i = 0; i < rows; i++) {
            if (mask[i] != 0f) continue; // m = 1: γ, γ', x_embed and the prior's α₁, σ₁ carry no gradient
            double dAlpha = 0, dSigma = 0;
            for (int k = i * perRow; k < (i + 1) * perRow; k++) {
                dAlpha += (double) dz[k] * target[k];
                dSigma += (double) dz[k] * mb.eps()[k];
                double dx = alpha[i] * dz[k] - dXr[k];
                // prior: d/dx₀ of (α₁ x₀)²/2
                dx += priorScale * alpha1 * alpha1 * target[k];
                dAlpha1 += priorScale * alpha1 * target[k] * target[k];
                dTarget[k] = (float) dx;
            }
            dSigma1 += priorScale * perRow * (-1 / sigma1 + sigma1);
            double a2 = alpha[i] * alpha[i], s2 = sigma[i] * sigma[i];
            dGamma[i] += dAlpha * (-alpha[i] * s2 / 2) + dSigma * (sigma[i] * a2 / 2);
            if (i >= r) {
                double dSnr = scale / diffNorm * (-0.5 * sqErr[i]);
                dGamma[i] += dSnr * Math.exp(-gamma[i]) * gammaPrime[i];
                dGammaPrime[i] = dSnr * -Math.exp(-gamma[i]);
            }
        }
        for (int i = 0; i < rows; i++) {
            if (mask[i] != 0f) {
                dGamma[i] = 0;
                dGammaPrime[i] = 0;
            }
        }

        // γ = γ0 + (γ1−γ0)γ̃,  γ' = (γ1−γ0)γ̃'
        double dG0 = 0, dG1 = 0;
        double[] dGt = new double[rows], dGtp = new double[rows];
        for (int i = 0; i < rows; i++) {
            dG0 += dGamma[i] * (1 - gt[i]) - dGammaPrime[i] * gtp[i];
            dG1 += dGamma[i] * gt[i] + dGammaPrime[i] * gtp[i];
            if (i >= r) {
                // the schedule minimises the variance: its gradient is scaled by 2·diffusion_i
                dGt[i] = (g1 - g0) * dGamma[i] * 2 * diffusion[i];
                dGtp[i] = (g1 - g0) * dGammaPrime[i] * 2 * diffusion[i];
            }
        }
        // the prior's α₁ = √s(−γ1), σ₁ = √s(γ1)
        double s1sq = sigma1 * sigma1, a1sq = alpha1 * alpha1;
        dG1 += dAlpha1 * (-alpha1 * s1sq / 2) + dSigma1 * (sigma1 * a1sq / 2);
        addToGrad(params.get(ParameterGroup.GAMMA_BOUNDS, "gamma_0"), new double[] {dG0});
        addToGrad(params.get(ParameterGroup.GAMMA_BOUNDS, "gamma_1"), new double[] {dG1});

        NoiseSchedule.Gradient sg = schedule.backward(mb.t(), dGt, dGtp);
        addToGrad(params.get(ParameterGroup.NOISE_SCHEDULE, "W1"), sg.w1());
        addToGrad(params.get(ParameterGroup.NOISE_SCHEDULE, "b1"), sg.b1());
        addToGrad(params.get(ParameterGroup.NOISE_SCHEDULE, "W2"), sg.w2());

        // Ê ← x_embed gather, then Ê = M/(‖M‖+ε)
        Tensor dXEmbedT = be.allocate(tokens, e);
        be.upload(toDiffusionSpaceBackward(dTarget, rows, seqLen), dXEmbedT);
        be.scatterAdd(dXEmbedT, mb.tokens(), dEmbedding);
        float[] dM = EmbeddingMatrix.backward(matrix, be.download(dEmbedding), e);
        Parameter mp = params.get(ParameterGroup.EMBEDDING_MATRIX, "matrix");
        float[] g = be.download(mp.grad());
        for (int k = 0; k < g.length; k++) g[k] += dM[k];
        if (c.embedRegularizerLambda != 0) {
            double regularizerScale = 2 * c.embedRegularizerLambda * scale;
            for (int k = 0; k < g.length; k++) g[k] += (float) (regularizerScale * matrix[k]);
        }
        be.upload(g, mp.grad());
    }

    private static double sumOfSquares(float[] values) {
        double s = 0;
        for (float v : values) s += (double) v * v;
        return s;
    }

    private void addToGrad(Parameter p, double[] d) {
        float[] g = be.download(p.grad());
        for (int k = 0; k < g.length; k++) g[k] += (float) d[k];
        be.upload(g, p.grad());
    }
}

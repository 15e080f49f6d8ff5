package plaid.model;

import java.util.Arrays;
import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.options.PlaidConfig;

/**
 * The denoiser's steps 1–2 (plaid-reference §2), forward and backward side by side:
 * <pre>
 *   x = z / √(α²/E + σ²)
 *   h = x W_inᵀ + (√E·x_sc) W_scᵀ + g(γ) W_gᵀ,   g(γ) = [sin(f·γ), cos(f·γ)], f = exp(linspace(−5, 5, 32))
 * </pre>
 * the last term broadcast over positions. h is the first block's input.
 */
final class InputProjection {
    private static final int GAMMA_FEATURES = 64;

    /** The frequencies f of the γ features. */
    private static final double[] GAMMA_FREQ = new double[GAMMA_FEATURES / 2];

    static {
        int n = GAMMA_FREQ.length;
        for (int k = 0; k < n; k++) GAMMA_FREQ[k] = Math.exp(-5.0 + 10.0 * k / (n - 1));
    }

    private final ComputeBackend be;
    private final int rows, seqLen, embedDim;
    /** h [rows·S, D], the first block's input. */
    private final Tensor h;
    // weights: input_linear, selfcond_linear, gamma_linear
    private final Parameter inputLinear, selfcondLinear, gammaLinear;
    // activations of the latest forward: x, √E·x_sc, g(γ)
    private final Tensor x, xSelfcondScaled, gammaFeatures;
    /** g(γ) W_gᵀ per row in the forward; Σ_positions dh per row in the backward. */
    private final Tensor gammaRowSum;
    // gradient scratch: d/dg(γ), d/dx
    private final Tensor dGammaFeatures, dX;

    InputProjection(PlaidConfig c, PlaidParameters params, int rows, int seqLen, Tensor h) {
        this.h = h;
        this.be = params.backend();
        this.rows = rows;
        this.seqLen = seqLen;
        this.embedDim = c.embedDim;
        inputLinear = params.model("input_linear.weight");
        selfcondLinear = params.model("selfcond_linear.weight");
        gammaLinear = params.model("gamma_linear.weight");
        int tokens = rows * seqLen;
        x = be.allocate(tokens, embedDim);
        xSelfcondScaled = be.allocate(tokens, embedDim);
        gammaFeatures = be.allocate(rows, GAMMA_FEATURES);
        gammaRowSum = be.allocate(rows, c.dim);
        dGammaFeatures = be.allocate(rows, GAMMA_FEATURES);
        dX = be.allocate(tokens, embedDim);
    }

    /** h from z, γ and x_sc. */
    void forward(Tensor z, double[] gamma, Tensor xSelfcond) {
        int e = embedDim;
        float[] invStd = new float[rows];
        for (int b = 0; b < rows; b++) {
            invStd[b] = 1f
                    / (float) Math.sqrt(NoiseLevel.alphaSquaredFloat(gamma[b]) / (float) e
                            + NoiseLevel.sigmaSquaredFloat(gamma[b]));
        }
        be.scaleGroups(z, invStd, x);

        be.gemm(false, true, 1f, x, inputLinear.value(), 0f, h);
        float[] sqrtE = new float[rows];
        Arrays.fill(sqrtE, (float) Math.sqrt(e));
        be.scaleGroups(xSelfcond, sqrtE, xSelfcondScaled);
        be.gemm(false, true, 1f, xSelfcondScaled, selfcondLinear.value(), 1f, h);
        be.upload(gammaFeatureValues(gamma), gammaFeatures);
        Tensor gammaProjection = gammaRowSum;
        be.gemm(false, true, 1f, gammaFeatures, gammaLinear.value(), 0f, gammaProjection);
        be.addToGroupRows(gammaProjection, h.reshape(rows, seqLen, h.shape()[1]));
    }

    private static float[] gammaFeatureValues(double[] gamma) {
        int half = GAMMA_FREQ.length;
        float[] g = new float[gamma.length * GAMMA_FEATURES];
        for (int b = 0; b < gamma.length; b++) {
            for (int k = 0; k < half; k++) {
                double a = GAMMA_FREQ[k] * gamma[b];
                g[b * GAMMA_FEATURES + k] = (float) Math.sin(a);
                g[b * GAMMA_FEATURES + half + k] = (float) Math.cos(a);
            }
        }
        return g;
    }

    /**
     * Through the latest forward from d/dh: adds d/dz into {@code dz} (which holds what the head sent
     * there) and d/dγ into {@code dGamma}. With {@code parameterGradients} the weights' gradients accumulate.
     */
    void backward(Tensor dh, Tensor z, double[] gamma, Tensor dz, double[] dGamma, boolean parameterGradients) {
        // step 2: h = x W_inᵀ + (√E x_sc) W_scᵀ + g(γ) W_gᵀ
        if (parameterGradients) be.gemm(true, false, 1f, dh, x, 1f, inputLinear.grad());
        if (parameterGradients) be.gemm(true, false, 1f, dh, xSelfcondScaled, 1f, selfcondLinear.grad());
        be.sumGroupRows(dh, gammaRowSum, false);
        if (parameterGradients) be.gemm(true, false, 1f, gammaRowSum, gammaFeatures, 1f, gammaLinear.grad());
        be.gemm(false, false, 1f, gammaRowSum, gammaLinear.value(), 0f, dGammaFeatures);
        float[] dFeat = be.download(dGammaFeatures);
        int half = GAMMA_FREQ.length;
        for (int b = 0; b < rows; b++) {
            for (int k = 0; k < half; k++) {
                double a = GAMMA_FREQ[k] * gamma[b];
                dGamma[b] += GAMMA_FREQ[k]
                        * (dFeat[b * GAMMA_FEATURES + k] * Math.cos(a)
                                - dFeat[b * GAMMA_FEATURES + half + k] * Math.sin(a));
            }
        }

        // step 1: x = z/√var, so dz += dx/√var and dγ += Σ(dx⊙z)·d(var^-½)/dγ
        be.gemm(false, false, 1f, dh, inputLinear.value(), 0f, dX);
        double[] dxDotZ = be.dotGroups(dX, z, rows);
        float[] invStd = new float[rows];
        int e = embedDim;
        for (int b = 0; b < rows; b++) {
            double a2 = NoiseLevel.alphaSquared(gamma[b]), s2 = NoiseLevel.sigmaSquared(gamma[b]);
            double var = a2 / e + s2;
            invStd[b] = 1f / (float) Math.sqrt(var);
            double dVar = a2 * s2 * (1 - 1.0 / e);
            dGamma[b] += dxDotZ[b] * (-0.5) * Math.pow(var, -1.5) * dVar;
        }
        be.scaleGroups(dX, invStd, dX);
        be.axpy(1f, dX, dz);
    }
}

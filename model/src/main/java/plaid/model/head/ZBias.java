package plaid.model.head;

import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.model.NoiseLevel;

/**
 * The skip term zb = bias_scale·(α/σ²)·z [rows·S, E] (plaid-reference §2 step 5), which every head adds
 * to its output in some form, forward and backward.
 */
final class ZBias {
    private final ComputeBackend be;
    private final Tensor value;

    ZBias(ComputeBackend be, int tokens, int embedDim) {
        this.be = be;
        this.value = be.allocate(tokens, embedDim);
    }

    /** zb of the latest forward. */
    Tensor value() {
        return value;
    }

    void forward(HeadInputs in) {
        be.scaleGroups(in.z(), factors(in), value);
    }

    /** From d/dzb: adds zb's share of d/dγ to {@code dGamma} and writes d/dz into {@code dz}. */
    void backward(Tensor dZb, HeadInputs in, Tensor dz, double[] dGamma) {
        float[] factors = factors(in);
        double[] dzbDotZ = be.dotGroups(dZb, in.z(), in.rows());
        for (int b = 0; b < in.rows(); b++) {
            // d(α/σ²)/dγ = −α/2 − α·α²/σ²
            double a2 = NoiseLevel.alphaSquared(in.gamma()[b]),
                    s2 = NoiseLevel.sigmaSquared(in.gamma()[b]),
                    a = Math.sqrt(a2);
            dGamma[b] += in.biasScale() * (-a / 2 - a * a2 / s2) * dzbDotZ[b];
        }
        be.scaleGroups(dZb, factors, dz);
    }

    /** bias_scale·α/σ² per row, in float32 as the forward computes it. */
    private static float[] factors(HeadInputs in) {
        float[] f = new float[in.rows()];
        for (int b = 0; b < f.length; b++) {
            double g = in.gamma()[b];
            f[b] = in.biasScale()
                    * ((float) Math.sqrt(NoiseLevel.alphaSquaredFloat(g)) / NoiseLevel.sigmaSquaredFloat(g));
        }
        return f;
    }
}

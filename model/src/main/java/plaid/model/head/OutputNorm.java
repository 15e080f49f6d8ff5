package plaid.model.head;

import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.model.Parameter;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;

/**
 * {@code output_norm{suffix}}: y = LayerNorm(h)·(256/D), no bias, eps 1e-5 (plaid-reference §2 step 4,
 * with its µP readout scale), forward and backward. h is the blocks' output, which it reads in both.
 */
final class OutputNorm {
    private static final float NORM_EPS = 1e-5f;

    private final ComputeBackend be;
    private final Parameter weight;
    private final float readoutScale;
    private final Tensor h, y, mean, rstd;

    OutputNorm(PlaidConfig config, PlaidParameters params, String suffix, Tensor h) {
        this.be = params.backend();
        this.weight = params.model("output_norm" + suffix + ".weight");
        this.readoutScale = (float) (1.0 / config.widthMult());
        this.h = h;
        int tokens = h.shape()[0], dim = h.shape()[1];
        y = be.allocate(tokens, dim);
        mean = be.allocate(tokens);
        rstd = be.allocate(tokens);
    }

    /** y of the latest forward [rows·S, D]. */
    Tensor output() {
        return y;
    }

    void forward() {
        be.layerNorm(h, weight.value(), NORM_EPS, y, mean, rstd);
        be.scale(y, readoutScale);
    }

    /** d/dh into {@code dh} from d/dy, which it scales in place; the weight's gradient accumulates when {@code parameterGradients}. */
    void backward(Tensor dy, Tensor dh, boolean parameterGradients) {
        be.scale(dy, readoutScale);
        be.layerNormBackward(dy, h, weight.value(), mean, rstd, dh, parameterGradients ? weight.grad() : null);
    }
}

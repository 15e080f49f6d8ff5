package plaid.model.head;

import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackend.Epilogue;
import plaid.backend.Tensor;
import plaid.model.Parameter;
import plaid.model.PlaidParameters;

/**
 * {@code output_linear{suffix}}: out = y Wᵀ + b, W [width, D], the µP readout to the V logits or, in the
 * bow-space x̂ heads, to E (plaid-reference §2 step 5, §7). Forward and backward.
 */
final class Readout {
    private final ComputeBackend be;
    private final Parameter weight, bias;

    Readout(PlaidParameters params, String suffix) {
        this.be = params.backend();
        this.weight = params.model("output_linear" + suffix + ".weight");
        this.bias = params.model("output_linear" + suffix + ".bias");
    }

    void forward(Tensor y, Tensor out) {
        be.gemm(false, true, 1f, y, weight.value(), 0f, out, Epilogue.BIAS, bias.value(), null);
    }

    /** d/dy into {@code dy} from d/dout; W's and b's gradients accumulate when {@code parameterGradients}. */
    void backward(Tensor dOut, Tensor y, Tensor dy, boolean parameterGradients) {
        if (parameterGradients) be.gemm(true, false, 1f, dOut, y, 1f, weight.grad());
        if (parameterGradients) be.sumGroupRows(dOut, bias.grad().reshape(1, weight.shape()[0]), true);
        be.gemm(false, false, 1f, dOut, weight.value(), 0f, dy);
    }
}

package plaid.backend.cuda;

import static plaid.backend.cuda.CudaBackend.cuda;
import static plaid.backend.cuda.CudaTensor.requireSameSize;

import plaid.backend.Tensor;

/**
 * AdamW, one fused element-wise kernel per parameter (optimizer.cu).
 */
final class OptimizerKernels {
    private final Launcher launcher;

    OptimizerKernels(Launcher launcher) {
        this.launcher = launcher;
    }

    void adamW(
            Tensor param,
            Tensor grad,
            Tensor m,
            Tensor v,
            float lr,
            float beta1,
            float beta2,
            float eps,
            float decay,
            int step) {
        CudaTensor cp = cuda(param), cg = cuda(grad);
        requireSameSize(cp, cg, "adamW");
        // the bias corrections in double, as the reference computes them
        double biasCorrection1 = 1 - Math.pow(beta1, step), biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        float stepSize = (float) (lr / biasCorrection1);
        launcher.elementwise(
                Kernel.ADAM_W,
                cp.numel(),
                cp,
                cg,
                cuda(m),
                cuda(v),
                beta1,
                beta2,
                eps,
                decay,
                stepSize,
                biasCorrection2Sqrt);
    }
}

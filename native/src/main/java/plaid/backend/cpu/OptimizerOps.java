package plaid.backend.cpu;

import static plaid.backend.cpu.CpuBackend.cpu;
import static plaid.backend.cpu.CpuBackend.parallelFor;
import static plaid.backend.cpu.CpuBackend.requireSameSize;

import plaid.backend.Tensor;

/** AdamW on the CPU, element-wise in float with the bias corrections in double, as the reference. */
final class OptimizerOps {
    private OptimizerOps() {}

    static void adamW(
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
        CpuTensor cp = cpu(param), cg = cpu(grad), cm = cpu(m), cv = cpu(v);
        requireSameSize(cp, cg, "adamW");
        double bc1 = 1 - Math.pow(beta1, step), bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        float stepSize = (float) (lr / bc1);
        int n = cp.size();
        int chunk = 8192;
        parallelFor((n + chunk - 1) / chunk, chunk, c -> {
            for (int i = c * chunk; i < Math.min(n, (c + 1) * chunk); i++) {
                float g = cg.data[cg.offset + i];
                float mi = cm.data[cm.offset + i] + (1 - beta1) * (g - cm.data[cm.offset + i]);
                float vi = cv.data[cv.offset + i] * beta2 + (1 - beta2) * g * g;
                cm.data[cm.offset + i] = mi;
                cv.data[cv.offset + i] = vi;
                float p = cp.data[cp.offset + i] * (1 - decay);
                cp.data[cp.offset + i] = p - stepSize * mi / ((float) (Math.sqrt(vi) / bc2Sqrt) + eps);
            }
        });
    }
}

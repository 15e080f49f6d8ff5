// The optimiser's update, one thread per parameter (grid-stride loop).
#include "common.cuh"

// AdamW with the reference's exact float/double mix: stepSize = lr / (1 - beta1^t) and
// biasCorrection2Sqrt = sqrt(1 - beta2^t) come from the host in the precision it uses.
extern "C" __global__ void adam_w(long long n, float* param, const float* grad, float* m, float* v,
                                  float beta1, float beta2, float eps, float decay, float stepSize, double biasCorrection2Sqrt) {
    FOR_EACH_ELEMENT(i, n) {
        float g = grad[i];
        float mi = m[i] + (1 - beta1) * (g - m[i]);
        float vi = v[i] * beta2 + (1 - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float p = param[i] * (1 - decay);
        param[i] = p - stepSize * mi / ((float) (sqrt((double) vi) / biasCorrection2Sqrt) + eps);
    }
}

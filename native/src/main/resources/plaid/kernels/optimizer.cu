// The optimiser's update: per tensor, one thread per parameter (grid-stride loop); or every tensor of a model in
// one launch, a block per chunk of a tensor.
#include "common.cuh"

// Longs per tensor in adam_w_multi's table (OptimizerKernels.TABLE_STRIDE): the param, grad, m and v addresses,
// the element count, the tensor's first block, and its lr scale and decay per unit of lr (double bits).
#define ADAM_TABLE_STRIDE 8

// One element of AdamW with the reference's exact float/double mix. Both kernels run this, so that the fused
// update of many tensors rounds exactly as the per-tensor one.
__device__ __forceinline__ void adam_w_element(long long i, float* param, const float* grad, float* m, float* v,
                                               float beta1, float beta2, float eps, float decay, float stepSize,
                                               double biasCorrection2Sqrt) {
    float g = grad[i];
    float mi = m[i] + (1 - beta1) * (g - m[i]);
    float vi = v[i] * beta2 + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float p = param[i] * (1 - decay);
    param[i] = p - stepSize * mi / ((float) (sqrt((double) vi) / biasCorrection2Sqrt) + eps);
}

// AdamW with stepSize = lr / (1 - beta1^t) and biasCorrection2Sqrt = sqrt(1 - beta2^t) from the host in the
// precision it uses.
extern "C" __global__ void adam_w(long long n, float* param, const float* grad, float* m, float* v,
                                  float beta1, float beta2, float eps, float decay, float stepSize, double biasCorrection2Sqrt) {
    FOR_EACH_ELEMENT(i, n) {
        adam_w_element(i, param, grad, m, v, beta1, beta2, eps, decay, stepSize, biasCorrection2Sqrt);
    }
}

// AdamW on `tensors` tensors in one launch: block b updates `chunk` elements of the last tensor whose first block
// is at or before b. Each tensor's lr and decay are formed as the host forms them for adam_w: lr = (float) (lrScale
// · lrFactor), decay = (float) (lrScale · lrFactor · decayPerLr), stepSize = (float) (lr / biasCorrection1), the
// products and the division in double; biasCorrection1 = 1 - beta1^t comes from the host, as for adam_w.
extern "C" __global__ void adam_w_multi(int tensors, long long chunk, const long long* table, double lrFactor,
                                        float beta1, float beta2, float eps, double biasCorrection1,
                                        double biasCorrection2Sqrt) {
    long long block = blockIdx.x;
    int lo = 0, hi = tensors - 1;
    while (lo < hi) { // a few hundred tensors: a binary search over their first blocks
        int mid = (lo + hi + 1) / 2;
        if (table[(long long) mid * ADAM_TABLE_STRIDE + 5] <= block) lo = mid;
        else hi = mid - 1;
    }
    const long long* entry = table + (long long) lo * ADAM_TABLE_STRIDE;
    float* param = (float*) entry[0];
    const float* grad = (const float*) entry[1];
    float* m = (float*) entry[2];
    float* v = (float*) entry[3];
    long long n = entry[4];
    double lr = __longlong_as_double(entry[6]) * lrFactor;
    float decay = (float) (lr * __longlong_as_double(entry[7]));
    float stepSize = (float) ((double) (float) lr / biasCorrection1);
    long long start = (block - entry[5]) * chunk;
    long long end = start + chunk < n ? start + chunk : n;
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
        adam_w_element(i, param, grad, m, v, beta1, beta2, eps, decay, stepSize, biasCorrection2Sqrt);
    }
}

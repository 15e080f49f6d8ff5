// Row-wise kernels: one block of BLOCK threads per row of `width` elements (blockIdx.x is the
// row), statistics reduced across the block in double like the reference.
#include "common.cuh"

#define ROW(pointer) ((pointer) + (long long) blockIdx.x * width)
#define FOR_EACH_COLUMN(j) for (int j = threadIdx.x; j < width; j += BLOCK)

// Norms write out16, when non-null, as bf16 too: the next GEMM's operand (CudaBackend's Bf16Handoff).
extern "C" __global__ void rms_norm(int width, const float* x, const float* weight, float eps, float* out, float* rstd,
                                    unsigned short* out16) {
    __shared__ double scratch[BLOCK];
    const float* xr = ROW(x);
    double squares = 0;
    FOR_EACH_COLUMN(j) squares += (double) xr[j] * xr[j];
    squares = block_reduce(squares, scratch, Sum());
    float inv = (float) (1.0 / sqrt(squares / width + eps));
    if (threadIdx.x == 0) rstd[blockIdx.x] = inv;
    float* outr = ROW(out);
    FOR_EACH_COLUMN(j) {
        float y = xr[j] * inv * weight[j];
        outr[j] = y;
        if (out16) ROW(out16)[j] = to_bf16(y);
    }
}

// y = x·r·w with r = (mean x² + eps)^-½:  dx = r·(g⊙w) − x·r³·mean(g⊙w⊙x)
extern "C" __global__ void rms_norm_backward(int width, const float* dOut, const float* x, const float* weight, const float* rstd, float* dx) {
    __shared__ double scratch[BLOCK];
    const float* g = ROW(dOut);
    const float* xr = ROW(x);
    double inv = rstd[blockIdx.x];
    double dot = 0;
    FOR_EACH_COLUMN(j) dot += (double) g[j] * weight[j] * xr[j];
    dot = block_reduce(dot, scratch, Sum());
    double c = inv * inv * inv * dot / width;
    float* dxr = ROW(dx);
    FOR_EACH_COLUMN(j) dxr[j] = (float) (inv * ((double) g[j] * weight[j]) - xr[j] * c);
}

extern "C" __global__ void layer_norm(int width, const float* x, const float* weight, float eps, float* out, float* mean, float* rstd,
                                      unsigned short* out16) {
    __shared__ double scratch[BLOCK];
    const float* xr = ROW(x);
    double mu = 0;
    FOR_EACH_COLUMN(j) mu += xr[j];
    mu = block_reduce(mu, scratch, Sum()) / width;
    double var = 0;
    FOR_EACH_COLUMN(j) {
        double centred = xr[j] - mu;
        var += centred * centred;
    }
    var = block_reduce(var, scratch, Sum());
    double inv = 1.0 / sqrt(var / width + eps);
    if (threadIdx.x == 0) {
        mean[blockIdx.x] = (float) mu;
        rstd[blockIdx.x] = (float) inv;
    }
    float* outr = ROW(out);
    FOR_EACH_COLUMN(j) {
        float y = (float) ((xr[j] - mu) * inv) * weight[j];
        outr[j] = y;
        if (out16) ROW(out16)[j] = to_bf16(y);
    }
}

// dx = r·(gw − mean(gw) − x̂·mean(gw⊙x̂)),  gw = dOut⊙w
extern "C" __global__ void layer_norm_backward(int width, const float* dOut, const float* x, const float* weight, const float* mean,
                                               const float* rstd, float* dx) {
    __shared__ double scratch[BLOCK];
    const float* g = ROW(dOut);
    const float* xr = ROW(x);
    double inv = rstd[blockIdx.x], mu = mean[blockIdx.x];
    double sumG = 0, sumGX = 0;
    FOR_EACH_COLUMN(j) {
        double gw = (double) g[j] * weight[j];
        sumG += gw;
        sumGX += gw * (xr[j] - mu) * inv;
    }
    double meanG = block_reduce(sumG, scratch, Sum()) / width;
    double meanGX = block_reduce(sumGX, scratch, Sum()) / width;
    float* dxr = ROW(dx);
    FOR_EACH_COLUMN(j) {
        double gw = (double) g[j] * weight[j];
        double xHat = (xr[j] - mu) * inv;
        dxr[j] = (float) (inv * (gw - meanG - xHat * meanGX));
    }
}

extern "C" __global__ void softmax(int width, const float* logits, float* probs) {
    __shared__ double scratch[BLOCK];
    const float* l = ROW(logits);
    float* p = ROW(probs);
    double localMax = NEG_INFINITY;
    FOR_EACH_COLUMN(j) localMax = fmax(localMax, (double) l[j]);
    float max = (float) block_reduce(localMax, scratch, Max());
    double sum = 0;
    FOR_EACH_COLUMN(j) {
        float e = (float) exp((double) (l[j] - max));
        p[j] = e;
        sum += e;
    }
    float inv = (float) (1.0 / block_reduce(sum, scratch, Sum()));
    FOR_EACH_COLUMN(j) p[j] *= inv; // each thread rescales the columns it wrote
}

// out[row] = the first column holding the row's largest value, as the scan "best = 0; if x[j] >
// x[best]: best = j" finds it: NaNs never win, except a NaN in column 0, which nothing beats.
// Written as a double, so it comes back through the reductions' download.
extern "C" __global__ void argmax_rows(int width, const float* x, double* out) {
    __shared__ double scratch[BLOCK];
    const float* xr = ROW(x);
    double localMax = NEG_INFINITY;
    FOR_EACH_COLUMN(j) localMax = fmax(localMax, (double) xr[j]); // fmax passes over NaN
    double max = block_reduce(localMax, scratch, Max());
    double first = width;
    FOR_EACH_COLUMN(j) { // each thread visits its columns in ascending order
        if ((double) xr[j] == max) {
            first = j;
            break;
        }
    }
    first = block_reduce(first, scratch, Min());
    if (threadIdx.x == 0) out[blockIdx.x] = xr[0] != xr[0] || first == width ? 0 : first;
}

// loss[row] = logsumexp(logits[row]) − logits[row, targets[row]], in double.
extern "C" __global__ void cross_entropy(int width, const float* logits, const int* targets, double* loss) {
    __shared__ double scratch[BLOCK];
    const float* l = ROW(logits);
    double localMax = NEG_INFINITY;
    FOR_EACH_COLUMN(j) localMax = fmax(localMax, (double) l[j]);
    double max = block_reduce(localMax, scratch, Max());
    double sum = 0;
    FOR_EACH_COLUMN(j) sum += exp(l[j] - max);
    sum = block_reduce(sum, scratch, Sum());
    if (threadIdx.x == 0) loss[blockIdx.x] = max + log(sum) - l[targets[blockIdx.x]];
}

// dLogits[row] += rowScale[row / rowsPerScale]·(probs[row] − onehot(target)), rounding as the
// reference's two separate updates.
extern "C" __global__ void cross_entropy_backward(int width, int rowsPerScale, const float* probs, const int* targets,
                                                  const float* rowScale, float* dLogits) {
    const float* p = ROW(probs);
    float* d = ROW(dLogits);
    float s = rowScale[blockIdx.x / rowsPerScale];
    int target = targets[blockIdx.x];
    FOR_EACH_COLUMN(j) {
        float value = d[j] + s * p[j];
        if (j == target) value -= s;
        d[j] = value;
    }
}

extern "C" __global__ void softmax_backward(int width, const float* probs, const float* dProbs, float* dLogits, int accumulate) {
    __shared__ double scratch[BLOCK];
    const float* p = ROW(probs);
    const float* g = ROW(dProbs);
    float* d = ROW(dLogits);
    double dot = 0;
    FOR_EACH_COLUMN(j) dot += (double) p[j] * g[j];
    dot = block_reduce(dot, scratch, Sum());
    FOR_EACH_COLUMN(j) {
        float grad = (float) (p[j] * (g[j] - dot));
        d[j] = accumulate ? d[j] + grad : grad;
    }
}

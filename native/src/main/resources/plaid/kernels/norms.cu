// RMSNorm and LayerNorm (without bias), forward and backward, and their weight gradient. The norms
// run one block of BLOCK threads per row (ROW, FOR_EACH_COLUMN), statistics reduced across the
// block in double like the reference.
#include "common.cuh"

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

// The weight gradient of RMSNorm (mean null) and LayerNorm, dWeight[j] += sum over rows of
// dOut * (x - mean) * rstd, in two passes so that enough threads run: grid
// (ceil(width / BLOCK), chunks), each thread sums one column over one chunk of rows
// (consecutive threads read consecutive columns), then norm_weight_grad_finish adds the
// chunks of each column in chunk order (deterministic, unlike atomics).
extern "C" __global__ void norm_weight_grad_partials(long long width, int rows, int rowsPerChunk, const float* dOut, const float* x,
                                                     const float* rstd, const float* mean, double* partials) {
    long long j = (long long) blockIdx.x * BLOCK + threadIdx.x;
    if (j >= width) return;
    int first = blockIdx.y * rowsPerChunk, last = min(rows, first + rowsPerChunk);
    double sum = 0;
    for (int r = first; r < last; r++) {
        double mu = mean ? mean[r] : 0.0;
        long long at = r * width + j;
        sum += dOut[at] * (x[at] - mu) * (double) rstd[r];
    }
    partials[blockIdx.y * width + j] = sum;
}

extern "C" __global__ void norm_weight_grad_finish(long long width, int chunks, const double* partials, float* dWeight) {
    FOR_EACH_ELEMENT(j, width) {
        double sum = 0;
        for (int c = 0; c < chunks; c++) sum += partials[c * width + j];
        dWeight[j] += (float) sum;
    }
}

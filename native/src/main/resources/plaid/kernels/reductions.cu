// Reductions across many elements or rows, accumulated in double like the reference.
#include "common.cuh"

// Partial dot products of `groups` groups of groupSize elements: grid (groups, blocksPerGroup),
// partials[group * blocksPerGroup + block]; the host adds the partials of each group.
extern "C" __global__ void dot_partials(long long groupSize, const float* a, const float* b, double* partials) {
    __shared__ double scratch[BLOCK];
    long long base = blockIdx.x * groupSize;
    double sum = 0;
    for (long long i = blockIdx.y * (long long) BLOCK + threadIdx.x; i < groupSize; i += (long long) gridDim.y * BLOCK) {
        sum += (double) a[base + i] * b[base + i];
    }
    sum = block_reduce(sum, scratch, Sum());
    if (threadIdx.x == 0) partials[blockIdx.x * gridDim.y + blockIdx.y] = sum;
}

// out[g, :] (+)= sum over the rows of group g of x; one thread per output column.
extern "C" __global__ void sum_group_rows(long long n, int width, long long rowsPerGroup, const float* x, float* out, int accumulate) {
    FOR_EACH_ELEMENT(i, n) {
        long long group = i / width;
        int column = (int) (i % width);
        const float* rows = x + group * rowsPerGroup * width + column;
        double sum = 0;
        for (long long r = 0; r < rowsPerGroup; r++) sum += rows[r * width];
        out[i] = (float) ((accumulate ? out[i] : 0) + sum);
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

// Dense algebra beside the GEMMs (ComputeBackend's "dense algebra"): axpy and scaling, per-group
// factors, dot products and row sums over groups, the latter accumulated in double like the reference.
// Element-wise kernels run one thread per element in a grid-stride loop; `n` is the element count.
#include "common.cuh"

extern "C" __global__ void axpy(long long n, float alpha, const float* x, float* y) {
    FOR_EACH_ELEMENT(i, n) y[i] += alpha * x[i];
}

extern "C" __global__ void scale(long long n, float alpha, float* t) {
    FOR_EACH_ELEMENT(i, n) t[i] *= alpha;
}

// out = in * factors[group], groups being consecutive runs of groupSize elements.
extern "C" __global__ void scale_groups(long long n, long long groupSize, const float* factors, const float* in, float* out) {
    FOR_EACH_ELEMENT(i, n) out[i] = in[i] * factors[i / groupSize];
}

// x[g, r, :] += v[g, :] for rows of `width` elements, rowsPerGroup rows per group.
extern "C" __global__ void add_to_group_rows(long long n, int width, long long rowsPerGroup, const float* v, float* x) {
    FOR_EACH_ELEMENT(i, n) {
        long long group = i / width / rowsPerGroup;
        x[i] += v[group * width + i % width];
    }
}

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

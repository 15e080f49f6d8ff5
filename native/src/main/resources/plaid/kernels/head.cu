// The output head: softmax, argmax, cross-entropy and their backwards, one block of BLOCK threads
// per row (ROW, FOR_EACH_COLUMN), reduced across the block in double like the reference.
#include "common.cuh"

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

// Non-causal attention inside segments, in double like the reference.
// Layouts: qkv [rows, S, 3, H, d]; out and dOut [rows, S, H, d]; logSumExp [rows, H, S].
// segmentStart/segmentEnd [rows, S] give the segment [start, end) around each position.
// The forward and dq kernels run one block per query, the dk/dv kernel one block per key,
// blockIdx.x = (row * H + head) * S + position; each keeps one double per segment member in
// dynamic shared memory.
#include "common.cuh"

struct Position {
    int row, head, index;
    long long token; // row * S + index
};

__device__ Position block_position(int S, int H) {
    Position p;
    p.index = blockIdx.x % S;
    p.head = (blockIdx.x / S) % H;
    p.row = blockIdx.x / S / H;
    p.token = (long long) p.row * S + p.index;
    return p;
}

// Part 0 (q), 1 (k) or 2 (v) of a token's head in qkv.
__device__ const float* qkv_part(const float* qkv, long long token, int part, int head, int H, int d) {
    return qkv + (token * 3 + part) * H * d + (long long) head * d;
}

__device__ double dot(const float* a, const float* b, int d) {
    double s = 0;
    for (int e = 0; e < d; e++) s += (double) a[e] * b[e];
    return s;
}

extern "C" __global__ void attention_forward(int S, int H, int d, double scale, const int* segmentStart, const int* segmentEnd,
                                             const float* qkv, float* out, float* logSumExp) {
    extern __shared__ double weights[];
    __shared__ double scratch[BLOCK];
    Position at = block_position(S, H);
    long long rowStart = (long long) at.row * S;
    int lo = segmentStart[at.token], hi = segmentEnd[at.token];
    const float* q = qkv_part(qkv, at.token, 0, at.head, H, d);
    double localMax = NEG_INFINITY;
    for (int j = lo + threadIdx.x; j < hi; j += BLOCK) {
        double s = dot(q, qkv_part(qkv, rowStart + j, 1, at.head, H, d), d) * scale;
        weights[j - lo] = s;
        localMax = fmax(localMax, s);
    }
    double max = block_reduce(localMax, scratch, Max());
    double localSum = 0;
    for (int j = lo + threadIdx.x; j < hi; j += BLOCK) {
        double p = exp(weights[j - lo] - max);
        weights[j - lo] = p;
        localSum += p;
    }
    double sum = block_reduce(localSum, scratch, Sum());
    float* o = out + (at.token * H + at.head) * d;
    for (int e = threadIdx.x; e < d; e += BLOCK) {
        double acc = 0;
        for (int j = lo; j < hi; j++) acc += weights[j - lo] / sum * qkv_part(qkv, rowStart + j, 2, at.head, H, d)[e];
        o[e] = (float) acc;
    }
    if (threadIdx.x == 0) logSumExp[blockIdx.x] = (float) (max + log(sum));
}

// delta[token, head] = dOut · out, the softmax-backward term shared by both gradient kernels;
// n = rows * S * H, one thread each.
extern "C" __global__ void attention_delta(long long n, int d, const float* dOut, const float* out, double* delta) {
    FOR_EACH_ELEMENT(i, n) delta[i] = dot(dOut + i * d, out + i * d, d);
}

// dS[i, j] = P[i, j]·(dOut_i · v_j − delta_i)·scale with P recomputed from the saved log-sum-exp.
__device__ double score_gradient(const float* q, const float* k, const float* v, const float* g, double lse, double delta,
                                 double scale, int d, double* probability) {
    double p = exp(dot(q, k, d) * scale - lse);
    *probability = p;
    return p * (dot(g, v, d) - delta) * scale;
}

extern "C" __global__ void attention_backward_query(int S, int H, int d, double scale, const int* segmentStart, const int* segmentEnd,
                                                    const float* qkv, const float* dOut, const float* logSumExp, const double* delta,
                                                    float* dqkv) {
    extern __shared__ double scoreGradients[];
    Position at = block_position(S, H);
    long long rowStart = (long long) at.row * S;
    int lo = segmentStart[at.token], hi = segmentEnd[at.token];
    const float* q = qkv_part(qkv, at.token, 0, at.head, H, d);
    const float* g = dOut + (at.token * H + at.head) * d;
    double lse = logSumExp[blockIdx.x], deltaI = delta[at.token * H + at.head];
    double p;
    for (int j = lo + threadIdx.x; j < hi; j += BLOCK) {
        scoreGradients[j - lo] = score_gradient(q, qkv_part(qkv, rowStart + j, 1, at.head, H, d),
                                                qkv_part(qkv, rowStart + j, 2, at.head, H, d), g, lse, deltaI, scale, d, &p);
    }
    __syncthreads();
    float* dq = dqkv + (at.token * 3 * H + at.head) * d;
    for (int e = threadIdx.x; e < d; e += BLOCK) {
        double acc = 0;
        for (int j = lo; j < hi; j++) acc += scoreGradients[j - lo] * qkv_part(qkv, rowStart + j, 1, at.head, H, d)[e];
        dq[e] = (float) acc;
    }
}

// Keys see exactly the queries of their own segment (attention is symmetric within segments).
extern "C" __global__ void attention_backward_key_value(int S, int H, int d, double scale, const int* segmentStart, const int* segmentEnd,
                                                        const float* qkv, const float* dOut, const float* logSumExp, const double* delta,
                                                        float* dqkv) {
    extern __shared__ double shared[];
    Position at = block_position(S, H);
    long long rowStart = (long long) at.row * S;
    int lo = segmentStart[at.token], hi = segmentEnd[at.token];
    double* probabilities = shared;
    double* scoreGradients = shared + (hi - lo);
    const float* k = qkv_part(qkv, at.token, 1, at.head, H, d);
    const float* v = qkv_part(qkv, at.token, 2, at.head, H, d);
    const float* lseRow = logSumExp + (long long) (at.row * H + at.head) * S;
    for (int i = lo + threadIdx.x; i < hi; i += BLOCK) {
        long long query = rowStart + i;
        scoreGradients[i - lo] = score_gradient(qkv_part(qkv, query, 0, at.head, H, d), k, v, dOut + (query * H + at.head) * d,
                                                lseRow[i], delta[query * H + at.head], scale, d, &probabilities[i - lo]);
    }
    __syncthreads();
    float* dk = dqkv + ((at.token * 3 + 1) * H + at.head) * d;
    float* dv = dqkv + ((at.token * 3 + 2) * H + at.head) * d;
    for (int e = threadIdx.x; e < d; e += BLOCK) {
        double accK = 0, accV = 0;
        for (int i = lo; i < hi; i++) {
            long long query = rowStart + i;
            accV += probabilities[i - lo] * dOut[(query * H + at.head) * d + e];
            accK += scoreGradients[i - lo] * qkv_part(qkv, query, 0, at.head, H, d)[e];
        }
        dk[e] = (float) accK;
        dv[e] = (float) accV;
    }
}

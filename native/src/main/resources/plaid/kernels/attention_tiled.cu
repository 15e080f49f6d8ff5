// Tiled non-causal attention inside segments, in fp32 (the per-query kernels of attention.cu
// work in double and re-read every key from global memory for every query; these share one
// shared-memory tile of keys and values among 64 queries).
// Layouts as in attention.cu: qkv [rows, S, 3, H, d]; out and dOut [rows, S, H, d];
// logSumExp [rows, H, S]; delta [rows, S, H] from attention_delta (double).
// Grid: x = tile of OWNERS_PER_BLOCK positions along the sequence, y = row * H + head.
// Each position (a query, or a key for the dk/dv kernel) is owned by a quad of LANES
// consecutive threads; lane l holds the float4 chunks l, l + LANES, ... of the head vector,
// so a dot product is a partial sum per lane plus two shuffles, and a warp reading one
// shared row touches consecutive 16-byte words (no bank conflicts).
// Needs d % (4 * LANES) == 0, d <= MAX_HEAD_DIM and 16-byte aligned tensors (checked on the host).
// Products use explicit __fmaf_rn: the module's --fmad=false keeps element-wise kernels
// rounding as the Java reference, which these accumulations do not try to match bit for bit.
#include "common.cuh"

#define LANES 4
#define OWNERS_PER_BLOCK (BLOCK / LANES)
#define TILE 32
#define MAX_HEAD_DIM 64 // the models' head dimension; wider heads use attention.cu (registers scale with it)
#define MAX_CHUNKS (MAX_HEAD_DIM / (4 * LANES))
#define FULL_WARP 0xffffffffu
#define NEG_INFINITY_F (-__int_as_float(0x7f800000))

// Part 0 (q), 1 (k) or 2 (v) of a token's head in qkv, as float4.
__device__ const float4* qkv_vector(const float* qkv, long long token, int part, int head, int H, int d) {
    return (const float4*) (qkv + (token * 3 + part) * H * d + (long long) head * d);
}

// The chunks of one head vector that this lane owns; zeros for an inactive owner (past S).
__device__ void load_lane(bool active, const float4* vector, int lane, int chunks, float4* into) {
#pragma unroll
    for (int c = 0; c < MAX_CHUNKS; c++) into[c] = active && c < chunks ? vector[lane + c * LANES] : make_float4(0, 0, 0, 0);
}

__device__ void zero_lane(float4* acc) {
#pragma unroll
    for (int c = 0; c < MAX_CHUNKS; c++) acc[c] = make_float4(0, 0, 0, 0);
}

__device__ void store_lane(float4* vector, int lane, int chunks, const float4* from) {
#pragma unroll
    for (int c = 0; c < MAX_CHUNKS; c++) if (c < chunks) vector[lane + c * LANES] = from[c];
}

// Σ a·b over the whole head vector: this lane's chunks of `a` against a shared row, then the quad's sum.
__device__ float quad_dot(const float4* a, const float4* sharedRow, int lane, int chunks) {
    float partial = 0;
#pragma unroll
    for (int c = 0; c < MAX_CHUNKS; c++) {
        if (c < chunks) {
            float4 b = sharedRow[lane + c * LANES];
            partial = __fmaf_rn(a[c].x, b.x, partial);
            partial = __fmaf_rn(a[c].y, b.y, partial);
            partial = __fmaf_rn(a[c].z, b.z, partial);
            partial = __fmaf_rn(a[c].w, b.w, partial);
        }
    }
    partial += __shfl_xor_sync(FULL_WARP, partial, 1);
    partial += __shfl_xor_sync(FULL_WARP, partial, 2);
    return partial;
}

// acc += weight · this lane's chunks of a shared row.
__device__ void accumulate(float4* acc, float weight, const float4* sharedRow, int lane, int chunks) {
#pragma unroll
    for (int c = 0; c < MAX_CHUNKS; c++) {
        if (c < chunks) {
            float4 b = sharedRow[lane + c * LANES];
            acc[c].x = __fmaf_rn(weight, b.x, acc[c].x);
            acc[c].y = __fmaf_rn(weight, b.y, acc[c].y);
            acc[c].z = __fmaf_rn(weight, b.z, acc[c].z);
            acc[c].w = __fmaf_rn(weight, b.w, acc[c].w);
        }
    }
}

__device__ void scale_lane(float4* acc, float factor) {
#pragma unroll
    for (int c = 0; c < MAX_CHUNKS; c++) {
        acc[c].x *= factor;
        acc[c].y *= factor;
        acc[c].z *= factor;
        acc[c].w *= factor;
    }
}

// Where this thread sits: its row, head, lane and owned position (which may be past S on the last tile).
struct Owner {
    int row, head, lane, position;
    bool active;
    long long rowStart; // token index of the row's first position
};

__device__ Owner block_owner(int S, int H) {
    Owner o;
    o.row = blockIdx.y / H;
    o.head = blockIdx.y % H;
    o.lane = threadIdx.x % LANES;
    o.position = blockIdx.x * OWNERS_PER_BLOCK + threadIdx.x / LANES;
    o.active = o.position < S;
    o.rowStart = (long long) o.row * S;
    return o;
}

// The other side's positions this tile's owners see: segments are consecutive runs of a row,
// so the union of the tile's segments runs from its first owner's start to its last owner's end.
__device__ void tile_span(const int* segmentStart, const int* segmentEnd, long long rowStart, int S, int* lo, int* hi) {
    int first = blockIdx.x * OWNERS_PER_BLOCK;
    int last = min(first + OWNERS_PER_BLOCK, S) - 1;
    *lo = segmentStart[rowStart + first];
    *hi = segmentEnd[rowStart + last];
}

// Copies `count` head vectors of part `part` starting at position `from` into a shared tile.
__device__ void load_tile(float4 (*tile)[MAX_HEAD_DIM / 4], const float* qkv, long long rowStart, int from, int count, int part,
                          int head, int H, int d) {
    int vectors = d / 4;
    for (int i = threadIdx.x; i < count * vectors; i += BLOCK) {
        tile[i / vectors][i % vectors] = qkv_vector(qkv, rowStart + from + i / vectors, part, head, H, d)[i % vectors];
    }
}

// Same for rows of dOut [rows, S, H, d].
__device__ void load_output_tile(float4 (*tile)[MAX_HEAD_DIM / 4], const float* dOut, long long rowStart, int from, int count,
                                 int head, int H, int d) {
    int vectors = d / 4;
    for (int i = threadIdx.x; i < count * vectors; i += BLOCK) {
        long long token = rowStart + from + i / vectors;
        tile[i / vectors][i % vectors] = ((const float4*) (dOut + (token * H + head) * d))[i % vectors];
    }
}

// Online softmax over key tiles: per tile the scores, one rescale of the running sum and
// output to the tile's maximum, then the weighted values.
extern "C" __global__ void attention_forward_tiled(int S, int H, int d, float scale, const int* segmentStart, const int* segmentEnd,
                                                   const float* qkv, float* out, float* logSumExp) {
    __shared__ float4 keys[TILE][MAX_HEAD_DIM / 4];
    __shared__ float4 values[TILE][MAX_HEAD_DIM / 4];
    Owner at = block_owner(S, H);
    int chunks = d / (4 * LANES);
    long long token = at.rowStart + at.position;
    int lo = at.active ? segmentStart[token] : 0, hi = at.active ? segmentEnd[token] : 0;
    float4 q[MAX_CHUNKS], acc[MAX_CHUNKS];
    load_lane(at.active, qkv_vector(qkv, token, 0, at.head, H, d), at.lane, chunks, q);
    zero_lane(acc);
    float max = NEG_INFINITY_F, sum = 0;
    int spanLo, spanHi;
    tile_span(segmentStart, segmentEnd, at.rowStart, S, &spanLo, &spanHi);
    for (int from = spanLo; from < spanHi; from += TILE) {
        int count = min(TILE, spanHi - from);
        __syncthreads(); // the previous tile is no longer read
        load_tile(keys, qkv, at.rowStart, from, count, 1, at.head, H, d);
        load_tile(values, qkv, at.rowStart, from, count, 2, at.head, H, d);
        __syncthreads();
        float scores[TILE];
        float tileMax = NEG_INFINITY_F;
#pragma unroll
        for (int j = 0; j < TILE; j++) {
            // every lane shuffles (the warp stays converged); rows past count hold stale data and are masked
            float s = quad_dot(q, keys[j], at.lane, chunks) * scale;
            int key = from + j;
            scores[j] = j < count && key >= lo && key < hi ? s : NEG_INFINITY_F;
            tileMax = fmaxf(tileMax, scores[j]);
        }
        float newMax = fmaxf(max, tileMax);
        if (newMax == NEG_INFINITY_F) continue; // nothing of this query's segment yet
        float correction = expf(max - newMax);
        sum *= correction;
        scale_lane(acc, correction);
#pragma unroll
        for (int j = 0; j < TILE; j++) {
            if (j < count) {
                float p = expf(scores[j] - newMax);
                sum += p;
                accumulate(acc, p, values[j], at.lane, chunks);
            }
        }
        max = newMax;
    }
    if (!at.active) return;
    scale_lane(acc, 1.0f / sum);
    store_lane((float4*) (out + (token * H + at.head) * d), at.lane, chunks, acc);
    if (at.lane == 0) logSumExp[(long long) blockIdx.y * S + at.position] = max + logf(sum);
}

// dq_i = Σ_j dS_ij·k_j with dS_ij = P_ij·(dOut_i·v_j − delta_i)·scale, P recomputed from the log-sum-exp.
extern "C" __global__ void attention_backward_query_tiled(int S, int H, int d, float scale, const int* segmentStart,
                                                          const int* segmentEnd, const float* qkv, const float* dOut,
                                                          const float* logSumExp, const double* delta, float* dqkv) {
    __shared__ float4 keys[TILE][MAX_HEAD_DIM / 4];
    __shared__ float4 values[TILE][MAX_HEAD_DIM / 4];
    Owner at = block_owner(S, H);
    int chunks = d / (4 * LANES);
    long long token = at.rowStart + at.position;
    int lo = at.active ? segmentStart[token] : 0, hi = at.active ? segmentEnd[token] : 0;
    float4 q[MAX_CHUNKS], g[MAX_CHUNKS], dq[MAX_CHUNKS];
    load_lane(at.active, qkv_vector(qkv, token, 0, at.head, H, d), at.lane, chunks, q);
    load_lane(at.active, (const float4*) (dOut + (token * H + at.head) * d), at.lane, chunks, g);
    zero_lane(dq);
    float lse = at.active ? logSumExp[(long long) blockIdx.y * S + at.position] : 0;
    float deltaI = at.active ? (float) delta[token * H + at.head] : 0;
    int spanLo, spanHi;
    tile_span(segmentStart, segmentEnd, at.rowStart, S, &spanLo, &spanHi);
    for (int from = spanLo; from < spanHi; from += TILE) {
        int count = min(TILE, spanHi - from);
        __syncthreads();
        load_tile(keys, qkv, at.rowStart, from, count, 1, at.head, H, d);
        load_tile(values, qkv, at.rowStart, from, count, 2, at.head, H, d);
        __syncthreads();
        for (int j = 0; j < count; j++) { // count is the same for the whole block: the shuffles stay converged
            float s = quad_dot(q, keys[j], at.lane, chunks) * scale;
            float dp = quad_dot(g, values[j], at.lane, chunks);
            int key = from + j;
            if (key >= lo && key < hi) accumulate(dq, expf(s - lse) * (dp - deltaI) * scale, keys[j], at.lane, chunks);
        }
    }
    if (at.active) store_lane((float4*) (dqkv + (token * 3 * H + at.head) * d), at.lane, chunks, dq);
}

// Keys see exactly the queries of their own segment (attention is symmetric within segments):
// dv_j = Σ_i P_ij·dOut_i and dk_j = Σ_i dS_ij·q_i over query tiles.
extern "C" __global__ void attention_backward_key_value_tiled(int S, int H, int d, float scale, const int* segmentStart,
                                                              const int* segmentEnd, const float* qkv, const float* dOut,
                                                              const float* logSumExp, const double* delta, float* dqkv) {
    __shared__ float4 queries[TILE][MAX_HEAD_DIM / 4];
    __shared__ float4 outputGradients[TILE][MAX_HEAD_DIM / 4];
    __shared__ float queryLse[TILE], queryDelta[TILE];
    Owner at = block_owner(S, H);
    int chunks = d / (4 * LANES);
    long long token = at.rowStart + at.position;
    int lo = at.active ? segmentStart[token] : 0, hi = at.active ? segmentEnd[token] : 0;
    float4 k[MAX_CHUNKS], v[MAX_CHUNKS], dk[MAX_CHUNKS], dv[MAX_CHUNKS];
    load_lane(at.active, qkv_vector(qkv, token, 1, at.head, H, d), at.lane, chunks, k);
    load_lane(at.active, qkv_vector(qkv, token, 2, at.head, H, d), at.lane, chunks, v);
    zero_lane(dk);
    zero_lane(dv);
    int spanLo, spanHi;
    tile_span(segmentStart, segmentEnd, at.rowStart, S, &spanLo, &spanHi);
    for (int from = spanLo; from < spanHi; from += TILE) {
        int count = min(TILE, spanHi - from);
        __syncthreads();
        load_tile(queries, qkv, at.rowStart, from, count, 0, at.head, H, d);
        load_output_tile(outputGradients, dOut, at.rowStart, from, count, at.head, H, d);
        if (threadIdx.x < count) {
            long long query = at.rowStart + from + threadIdx.x;
            queryLse[threadIdx.x] = logSumExp[(long long) blockIdx.y * S + from + threadIdx.x];
            queryDelta[threadIdx.x] = (float) delta[query * H + at.head];
        }
        __syncthreads();
        for (int i = 0; i < count; i++) {
            float s = quad_dot(k, queries[i], at.lane, chunks) * scale;
            float dp = quad_dot(v, outputGradients[i], at.lane, chunks);
            int query = from + i;
            if (query >= lo && query < hi) {
                float p = expf(s - queryLse[i]);
                accumulate(dv, p, outputGradients[i], at.lane, chunks);
                accumulate(dk, p * (dp - queryDelta[i]) * scale, queries[i], at.lane, chunks);
            }
        }
    }
    if (!at.active) return;
    store_lane((float4*) (dqkv + ((token * 3 + 1) * H + at.head) * d), at.lane, chunks, dk);
    store_lane((float4*) (dqkv + ((token * 3 + 2) * H + at.head) * d), at.lane, chunks, dv);
}

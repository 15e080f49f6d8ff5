// Attention backward on the tensor cores, for the bf16 mode (CudaBackend.attentionBackward with
// GemmPrecision.BF16): every product a bf16 mma.sync m16n8k16 with fp32 accumulation, the
// probabilities recomputed from the forward's log-sum-exp in fp32. Deterministic (no atomics):
// one kernel owns keys and sums dk, dv over the queries of their segments, the other owns
// queries and sums dq over their keys, so the scores are computed twice.
// Inputs: qkv16 [rows, S, 3, H, d] and dOut16 [rows, S, H, d] as bf16 copies; logSumExp
// [rows·H, S] (natural log); delta [rows, S, H] = dOut·out (fp32). attention_backward_delta makes dOut16 and delta.
// Output: dqkv [rows, S, 3, H, d] fp32, overwritten (q by one kernel, k and v by the other).
// Grid: x = tile of 128 positions (8 warps × 16, the mma fragments' rows), y = row * H + head.
// Needs d % 16 == 0, d <= HEAD (zero-padded to HEAD) and 16-byte aligned tensors (checked on the host).
#include "common.cuh"
#include "tensor_cores.cuh"

#define OWNED 128  // positions a block owns: 8 warps × 16
#define TILE 64    // positions of the other side per shared tile
#define HEAD 64    // head dimensions computed (zero-padded past d)
#define ROW_WORDS ((HEAD + 8) / 2) // 32-bit words per shared row: 8 bf16 of padding keep ldmatrix conflict-free

// `capacity` head vectors from position `from` into shared rows; zeros past count and d. `stride`: elements
// between consecutive positions (3·H·d in qkv16, H·d in dOut16); `base`: the row's first vector.
static __device__ __forceinline__ void copy_head_rows(unsigned int (*rows)[ROW_WORDS], int capacity, const unsigned short* base,
                                                      long long stride, int from, int count, int d) {
    for (int i = threadIdx.x; i < capacity * (HEAD / 8); i += BLOCK) {
        int r = i / (HEAD / 8), c = i % (HEAD / 8);
        bool valid = r < count && c * 8 < d;
        copy_async<16>(shared_address(&rows[r][c * 4]), valid ? base + (from + r) * stride + c * 8 : base, valid);
    }
}

// This warp's 16 rows (from shared, rows 16·warp on) as mma A fragments, dimension block kk in a[kk].
static __device__ __forceinline__ void load_a_fragments(unsigned int (&a)[HEAD / 16][4], unsigned int (*rows)[ROW_WORDS], int warp,
                                                        int lane) {
    // matrices: rows 0–7 and 8–15 of dimensions 16kk..+7, then the same of 16kk+8..+15
    int row = warp * 16 + ((lane >> 3) & 1) * 8 + (lane & 7);
#pragma unroll
    for (int kk = 0; kk < HEAD / 16; kk++) load_matrices(a[kk], shared_address(&rows[row][kk * 8 + (lane >> 4) * 4]));
}

// acc[j] += a-rows · rowsᵀ over HEAD dimensions, for the TILE shared rows (n-tile j: rows 8j..8j+7).
static __device__ __forceinline__ void multiply_by_rows(float (&acc)[TILE / 8][4], const unsigned int (&a)[HEAD / 16][4],
                                                        unsigned int (*rows)[ROW_WORDS], int lane) {
    // matrices: rows 8j..+7 of dimensions 16kk..+7 and 16kk+8..+15 (b0, b1 of n-tile j), then the same for j + 1
    int row = (lane >> 4) * 8 + (lane & 7), word = ((lane >> 3) & 1) * 4;
#pragma unroll
    for (int kk = 0; kk < HEAD / 16; kk++) {
#pragma unroll
        for (int j = 0; j < TILE / 8; j += 2) {
            unsigned int b[4];
            load_matrices(b, shared_address(&rows[j * 8 + row][kk * 8 + word]));
            mma_bf16(acc[j], a[kk], b[0], b[1]);
            mma_bf16(acc[j + 1], a[kk], b[2], b[3]);
        }
    }
}

// acc[j] (dimension tile j) += w · rows, w the 16 × TILE weights in accumulator layout (n-tile j: columns 8j..8j+7).
static __device__ __forceinline__ void multiply_weights_by_rows(float (&acc)[HEAD / 8][4], const float (&w)[TILE / 8][4],
                                                                unsigned int (*rows)[ROW_WORDS], int lane) {
    // matrices, transposed: rows 16kk..+7 and 16kk+8..+15 of dimensions 8j..+7 (b0, b1 of tile j), then of 8(j + 1)
    int row = ((lane >> 3) & 1) * 8 + (lane & 7), word = (lane >> 4) * 4;
#pragma unroll
    for (int kk = 0; kk < TILE / 16; kk++) {
        // an accumulator pair of n-tiles is one A fragment: rows g, g + 8 × columns 2t, 2t + 1 (+8)
        unsigned int a[4] = {pack_bf16x2(w[2 * kk][0], w[2 * kk][1]), pack_bf16x2(w[2 * kk][2], w[2 * kk][3]),
                             pack_bf16x2(w[2 * kk + 1][0], w[2 * kk + 1][1]), pack_bf16x2(w[2 * kk + 1][2], w[2 * kk + 1][3])};
#pragma unroll
        for (int j = 0; j < HEAD / 8; j += 2) {
            unsigned int b[4];
            load_matrices_transposed(b, shared_address(&rows[kk * 16 + row][j * 4 + word]));
            mma_bf16(acc[j], a, b[0], b[1]);
            mma_bf16(acc[j + 1], a, b[2], b[3]);
        }
    }
}

static __device__ __forceinline__ void zero(float (&acc)[8][4]) {
#pragma unroll
    for (int j = 0; j < 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0;
}

// scale·acc (rows g, g + 8 of the fragment: positions p0, p1) into the head vectors at `base` + position·stride.
static __device__ __forceinline__ void store_rows(const float (&acc)[HEAD / 8][4], float scale, float* base, long long stride, int p0,
                                                  int p1, int S, int d, int t) {
#pragma unroll
    for (int j = 0; j < HEAD / 8; j++) {
        int dim = 8 * j + 2 * t;
        if (dim < d) {
            if (p0 < S) *(float2*) (base + p0 * stride + dim) = make_float2(acc[j][0] * scale, acc[j][1] * scale);
            if (p1 < S) *(float2*) (base + p1 * stride + dim) = make_float2(acc[j][2] * scale, acc[j][3] * scale);
        }
    }
}

// delta = dOut·out per head vector (fp32) and dOut's bf16 copy, the inputs both gradient kernels share; one pass
// over dOut. n = vectors × 16: 16 lanes per vector, one float4 each (lanes past d/4 idle), summed by shuffles.
extern "C" __global__ void attention_backward_delta(long long n, int d, const float4* dOut, const float4* out, uint2* dOut16, float* delta) {
    int chunks = d / 4;
    long long lanes = (n + 31) / 32 * 32; // whole warps go round the loop, so the shuffles see every lane
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < lanes; i += (long long) gridDim.x * blockDim.x) {
        long long vector = i / 16;
        int c = (int) (i % 16);
        float sum = 0;
        if (i < n && c < chunks) {
            float4 g = dOut[vector * chunks + c], o = out[vector * chunks + c];
            dOut16[vector * chunks + c] = make_uint2(pack_bf16x2(g.x, g.y), pack_bf16x2(g.z, g.w));
            sum = g.x * o.x + g.y * o.y + g.z * o.z + g.w * o.w;
        }
#pragma unroll
        for (int offset = 8; offset > 0; offset >>= 1) sum += __shfl_xor_sync(FULL_WARP, sum, offset);
        if (i < n && c == 0) delta[vector] = sum;
    }
}

// dv_j = Σ_i P_ij·dOut_i and dk_j = scale·Σ_i dS_ij·q_i with dS_ij = P_ij·(dOut_i·v_j − delta_i), over the
// queries of key j's segment (segments partition a row, so they are the queries that see key j).
// Each warp holds 16 keys' k and v as A fragments and computes Sᵀ = k·qᵀ and dPᵀ = v·dOutᵀ per tile of
// TILE queries; q, dOut, their log-sum-exp and delta come in two stages of cp.async copies.
extern "C" __global__ void __launch_bounds__(BLOCK, 1) attention_backward_key_value_flash(
    int S, int H, int d, float scale, const int* segmentStart, const int* segmentEnd, const unsigned short* qkv16,
    const unsigned short* dOut16, const float* logSumExp, const float* delta, float* dqkv) {
    __shared__ __align__(128) unsigned int queries[2][TILE][ROW_WORDS];
    __shared__ __align__(128) unsigned int gradients[2][TILE][ROW_WORDS];
    __shared__ float lse[2][TILE];
    __shared__ float deltas[2][TILE];

    int row = blockIdx.y / H, head = blockIdx.y % H;
    long long rowStart = (long long) row * S;
    int first = blockIdx.x * OWNED;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int g = lane / 4, t = lane % 4;
    long long qkvStride = 3LL * H * d, dOutStride = (long long) H * d;
    const unsigned short* qRow = qkv16 + rowStart * qkvStride + (long long) head * d;
    const unsigned short* dOutRow = dOut16 + rowStart * dOutStride + (long long) head * d;

    // the block's keys and values pass through the query and gradient stages (OWNED = 2 × TILE rows)
    copy_head_rows(queries[0], OWNED, qRow + (long long) H * d, qkvStride, first, S - first, d);
    copy_head_rows(gradients[0], OWNED, qRow + 2LL * H * d, qkvStride, first, S - first, d);
    copy_async_commit();
    copy_async_wait<0>();
    __syncthreads();
    unsigned int kf[HEAD / 16][4], vf[HEAD / 16][4];
    load_a_fragments(kf, queries[0], warp, lane);
    load_a_fragments(vf, gradients[0], warp, lane);
    __syncthreads(); // the stages are free again

    int k0 = first + warp * 16 + g, k1 = k0 + 8; // this thread's keys: fragment rows g and g + 8
    int lo0 = k0 < S ? segmentStart[rowStart + k0] : 0, hi0 = k0 < S ? segmentEnd[rowStart + k0] : 0;
    int lo1 = k1 < S ? segmentStart[rowStart + k1] : 0, hi1 = k1 < S ? segmentEnd[rowStart + k1] : 0;
    int last = min(first + OWNED, S) - 1;
    int spanLo = segmentStart[rowStart + first], spanHi = segmentEnd[rowStart + last];
    float scaleLog2 = scale * LOG2E;

    float dk[HEAD / 8][4], dv[HEAD / 8][4];
    zero(dk);
    zero(dv);

    const float* lseRow = logSumExp + (long long) blockIdx.y * S;
    // one tile's copies: rows of q and dOut, and per query its log-sum-exp and delta
    auto copy_tile = [&](int stage, int from) {
        int count = min(TILE, spanHi - from);
        copy_head_rows(queries[stage], TILE, qRow, qkvStride, from, count, d);
        copy_head_rows(gradients[stage], TILE, dOutRow, dOutStride, from, count, d);
        int i = threadIdx.x;
        if (i < TILE) copy_async<4>(shared_address(&lse[stage][i]), lseRow + (i < count ? from + i : 0), i < count);
        else if (i < 2 * TILE) {
            i -= TILE;
            copy_async<4>(shared_address(&deltas[stage][i]), delta + (i < count ? (rowStart + from + i) * H + head : 0), i < count);
        }
        copy_async_commit();
    };

    int tiles = (spanHi - spanLo + TILE - 1) / TILE;
    if (tiles > 0) copy_tile(0, spanLo);
    for (int tile = 0; tile < tiles; tile++) {
        int from = spanLo + tile * TILE, stage = tile & 1;
        if (tile + 1 < tiles) {
            copy_tile(stage ^ 1, from + TILE); // the other stage was last read before the previous iteration's closing barrier
            copy_async_wait<1>();
        } else {
            copy_async_wait<0>();
        }
        __syncthreads();

        float p[TILE / 8][4], ds[TILE / 8][4]; // Sᵀ, then P; dPᵀ, then dS: 16 keys × TILE queries
        zero(p);
        zero(ds);
        multiply_by_rows(p, kf, queries[stage], lane);
        multiply_by_rows(ds, vf, gradients[stage], lane);
#pragma unroll
        for (int j = 0; j < TILE / 8; j++) {
            int column = 8 * j + 2 * t;
            float2 l = *(const float2*) &lse[stage][column], dl = *(const float2*) &deltas[stage][column];
            float minusLseLog2[2] = {l.x * -LOG2E, l.y * -LOG2E}, deltaF[2] = {dl.x, dl.y};
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int query = from + column + (e & 1);
                bool visible = e < 2 ? query >= lo0 && query < hi0 : query >= lo1 && query < hi1;
                float probability = exp2_approx(visible ? __fmaf_rn(p[j][e], scaleLog2, minusLseLog2[e & 1]) : NEG_INFINITY_F);
                p[j][e] = probability;
                ds[j][e] = probability * (ds[j][e] - deltaF[e & 1]);
            }
        }
        multiply_weights_by_rows(dv, p, gradients[stage], lane);
        multiply_weights_by_rows(dk, ds, queries[stage], lane);
        __syncthreads(); // this stage is refilled two tiles on
    }

    float* base = dqkv + rowStart * qkvStride + (long long) head * d;
    store_rows(dk, scale, base + (long long) H * d, qkvStride, k0, k1, S, d, t);
    store_rows(dv, 1.0f, base + 2LL * H * d, qkvStride, k0, k1, S, d, t);
}

// dq_i = scale·Σ_j dS_ij·k_j over the keys of query i's segment. Each warp holds 16 queries' q and dOut as
// A fragments and computes S = q·kᵀ and dP = dOut·vᵀ per tile of TILE keys, copied in two stages.
// Two blocks per multiprocessor (held to 128 registers) keep more warps in flight than one; the key kernel
// keeps one block, as 128 registers make it spill (the timings: docs/benchmarks-gpu.md, "Launch bounds").
extern "C" __global__ void __launch_bounds__(BLOCK, 2) attention_backward_query_flash(
    int S, int H, int d, float scale, const int* segmentStart, const int* segmentEnd, const unsigned short* qkv16,
    const unsigned short* dOut16, const float* logSumExp, const float* delta, float* dqkv) {
    __shared__ __align__(128) unsigned int keys[2][TILE][ROW_WORDS];
    __shared__ __align__(128) unsigned int values[2][TILE][ROW_WORDS];

    int row = blockIdx.y / H, head = blockIdx.y % H;
    long long rowStart = (long long) row * S;
    int first = blockIdx.x * OWNED;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int g = lane / 4, t = lane % 4;
    long long qkvStride = 3LL * H * d, dOutStride = (long long) H * d;
    const unsigned short* qRow = qkv16 + rowStart * qkvStride + (long long) head * d;
    const unsigned short* kRow = qRow + (long long) H * d;
    const unsigned short* vRow = qRow + 2LL * H * d;

    // the block's queries and output gradients pass through the key and value stages
    copy_head_rows(keys[0], OWNED, qRow, qkvStride, first, S - first, d);
    copy_head_rows(values[0], OWNED, dOut16 + rowStart * dOutStride + (long long) head * d, dOutStride, first, S - first, d);
    copy_async_commit();
    copy_async_wait<0>();
    __syncthreads();
    unsigned int qf[HEAD / 16][4], gf[HEAD / 16][4];
    load_a_fragments(qf, keys[0], warp, lane);
    load_a_fragments(gf, values[0], warp, lane);
    __syncthreads();

    int q0 = first + warp * 16 + g, q1 = q0 + 8;
    int lo0 = q0 < S ? segmentStart[rowStart + q0] : 0, hi0 = q0 < S ? segmentEnd[rowStart + q0] : 0;
    int lo1 = q1 < S ? segmentStart[rowStart + q1] : 0, hi1 = q1 < S ? segmentEnd[rowStart + q1] : 0;
    float minusLseLog2[2] = {q0 < S ? logSumExp[(long long) blockIdx.y * S + q0] * -LOG2E : 0,
                             q1 < S ? logSumExp[(long long) blockIdx.y * S + q1] * -LOG2E : 0};
    float deltas[2] = {q0 < S ? delta[(rowStart + q0) * H + head] : 0, q1 < S ? delta[(rowStart + q1) * H + head] : 0};
    int last = min(first + OWNED, S) - 1;
    int spanLo = segmentStart[rowStart + first], spanHi = segmentEnd[rowStart + last];
    float scaleLog2 = scale * LOG2E;

    float dq[HEAD / 8][4];
    zero(dq);

    int tiles = (spanHi - spanLo + TILE - 1) / TILE;
    if (tiles > 0) {
        copy_head_rows(keys[0], TILE, kRow, qkvStride, spanLo, min(TILE, spanHi - spanLo), d);
        copy_head_rows(values[0], TILE, vRow, qkvStride, spanLo, min(TILE, spanHi - spanLo), d);
        copy_async_commit();
    }
    for (int tile = 0; tile < tiles; tile++) {
        int from = spanLo + tile * TILE, stage = tile & 1;
        if (tile + 1 < tiles) {
            int next = from + TILE;
            copy_head_rows(keys[stage ^ 1], TILE, kRow, qkvStride, next, min(TILE, spanHi - next), d);
            copy_head_rows(values[stage ^ 1], TILE, vRow, qkvStride, next, min(TILE, spanHi - next), d);
            copy_async_commit();
            copy_async_wait<1>();
        } else {
            copy_async_wait<0>();
        }
        __syncthreads();

        float p[TILE / 8][4], ds[TILE / 8][4]; // S, then P; dP, then dS: 16 queries × TILE keys
        zero(p);
        zero(ds);
        multiply_by_rows(p, qf, keys[stage], lane);
        multiply_by_rows(ds, gf, values[stage], lane);
#pragma unroll
        for (int j = 0; j < TILE / 8; j++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = from + 8 * j + 2 * t + (e & 1);
                bool upper = e >= 2;
                bool visible = upper ? key >= lo1 && key < hi1 : key >= lo0 && key < hi0;
                float probability = exp2_approx(visible ? __fmaf_rn(p[j][e], scaleLog2, minusLseLog2[upper]) : NEG_INFINITY_F);
                ds[j][e] = probability * (ds[j][e] - deltas[upper]);
            }
        }
        multiply_weights_by_rows(dq, ds, keys[stage], lane);
        __syncthreads();
    }

    store_rows(dq, scale, dqkv + rowStart * qkvStride + (long long) head * d, qkvStride, q0, q1, S, d, t);
}

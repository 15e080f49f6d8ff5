// Attention forward on the tensor cores, for the bf16 mode (CudaBackend.attention with
// GemmPrecision.BF16): flash-attention style, q·kᵀ and p·v as bf16 mma.sync m16n8k16 with fp32
// accumulation, online softmax in fp32 (exp2 of log2e-scaled scores). Same layouts, segments
// and outputs as attention_forward_tiled: qkv [rows, S, 3, H, d] (fp32, rounded to bf16 on the
// way into shared memory), out [rows, S, H, d], logSumExp [rows, H, S] (natural log).
// Grid: x = tile of QUERIES positions, y = row * H + head; BLOCK threads (8 warps of 16 queries)
// here, FLASH_THREADS (4 warps of 32) in attention_forward_flash_bf16 below.
// Needs d % 16 == 0, d <= HEAD (the head is zero-padded to HEAD) and 16-byte aligned tensors
// (checked on the host).
#include "common.cuh"
#include "tensor_cores.cuh"

#define QUERIES 128 // queries per block, in both kernels
#define KEYS 64     // keys per shared tile
#define HEAD 64     // head dimensions computed (zero-padded past d)
#define ROW_WORDS ((HEAD + 8) / 2) // 32-bit words per shared row of Q or K: 8 bf16 of padding keeps the fragment loads conflict-free
#define VT_WORDS ((KEYS + 8) / 2)  // words per shared row of vᵀ
#define LN2 0.6931471805599453f

// Part 0 (q), 1 (k) or 2 (v) of a token's head in qkv.
__device__ __forceinline__ const float* head_vector(const float* qkv, long long token, int part, int head, int H, int d) {
    return qkv + (token * 3 + part) * H * d + (long long) head * d;
}

// `count` vectors of `part` from position `from` into shared rows [position][HEAD] as bf16; zeros past count and d.
__device__ void load_rows(unsigned int (*rows)[ROW_WORDS], int capacity, const float* qkv, long long rowStart, int from, int count,
                          int part, int head, int H, int d) {
    for (int i = threadIdx.x; i < capacity * (HEAD / 4); i += BLOCK) {
        int r = i / (HEAD / 4), c = i % (HEAD / 4);
        float4 v = make_float4(0, 0, 0, 0);
        if (r < count && c * 4 < d) v = ((const float4*) head_vector(qkv, rowStart + from + r, part, head, H, d))[c];
        *(uint2*) &rows[r][c * 2] = make_uint2(pack_bf16x2(v.x, v.y), pack_bf16x2(v.z, v.w));
    }
}

// KEYS value vectors from position `from`, transposed into vt[dimension][key] as bf16 pairs of consecutive keys.
__device__ void load_values_transposed(unsigned int (*vt)[VT_WORDS], const float* qkv, long long rowStart, int from, int count,
                                       int head, int H, int d) {
    for (int i = threadIdx.x; i < (KEYS / 2) * (HEAD / 4); i += BLOCK) {
        int pair = i % (KEYS / 2), c = i / (KEYS / 2);
        int k0 = 2 * pair, k1 = 2 * pair + 1;
        float4 v0 = make_float4(0, 0, 0, 0), v1 = make_float4(0, 0, 0, 0);
        if (c * 4 < d) {
            if (k0 < count) v0 = ((const float4*) head_vector(qkv, rowStart + from + k0, 2, head, H, d))[c];
            if (k1 < count) v1 = ((const float4*) head_vector(qkv, rowStart + from + k1, 2, head, H, d))[c];
        }
        vt[c * 4 + 0][pair] = pack_bf16x2(v0.x, v1.x);
        vt[c * 4 + 1][pair] = pack_bf16x2(v0.y, v1.y);
        vt[c * 4 + 2][pair] = pack_bf16x2(v0.z, v1.z);
        vt[c * 4 + 3][pair] = pack_bf16x2(v0.w, v1.w);
    }
}

// One warp's 16·M queries (M m-tiles) as this thread holds them: m-tile i's fragment rows g and
// g + 8 are rows 2i and 2i + 1 here. Each row's segment [lo, hi), the online softmax's running
// max (log2 units) and sum (this thread's columns), and the output accumulator: m-tile i,
// dimension tile j in o[i][j] (elements 0–1: row 2i, 2–3: row 2i + 1).
template <int M>
struct QueryRows {
    int q[2 * M], lo[2 * M], hi[2 * M];
    float max[2 * M], sum[2 * M];
    float o[M][HEAD / 8][4];
};

// This thread's rows of the warp's queries starting at `first`, with empty softmax state.
template <int M>
__device__ __forceinline__ void start_rows(QueryRows<M>& r, int first, int g, int S, long long rowStart, const int* segmentStart,
                                           const int* segmentEnd) {
#pragma unroll
    for (int k = 0; k < 2 * M; k++) {
        r.q[k] = first + 8 * k + g;
        r.lo[k] = r.q[k] < S ? segmentStart[rowStart + r.q[k]] : 0;
        r.hi[k] = r.q[k] < S ? segmentEnd[rowStart + r.q[k]] : 0;
        r.max[k] = NEG_INFINITY_F;
        r.sum[k] = 0;
    }
#pragma unroll
    for (int i = 0; i < M; i++) {
#pragma unroll
        for (int j = 0; j < HEAD / 8; j++) r.o[i][j][0] = r.o[i][j][1] = r.o[i][j][2] = r.o[i][j][3] = 0;
    }
}

// The running max only moves when a tile's max passes it by more than this (log2 units), so most
// tiles skip rescaling sum and o; p = exp2(s·scaleLog2 − max) stays ≤ 2^RESCALE_SLACK, far from overflow.
#define RESCALE_SLACK 8.0f

// Raw scores s of a key tile (m-tile i, n-tile j: keys from + 8j..8j+7), masked to each
// query's segment when MASKED (else every key is in every segment). Where they pass a row's
// running max by more than RESCALE_SLACK, the max moves to them and sum and o are rescaled.
// base: what p = exp2(s·scaleLog2 − base) subtracts per row (0 for a row that has seen no key of
// its segment yet, so exp2 never sees −∞ − −∞).
template <int M, bool MASKED>
__device__ __forceinline__ void online_softmax_step(QueryRows<M>& r, float (&s)[M][KEYS / 8][4], int from, int t, float scaleLog2,
                                                    float (&base)[2 * M]) {
    if (MASKED) {
#pragma unroll
        for (int i = 0; i < M; i++) {
#pragma unroll
            for (int j = 0; j < KEYS / 8; j++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int k = 2 * i + (e >> 1), key = from + 8 * j + 2 * t + (e & 1);
                    if (key < r.lo[k] || key >= r.hi[k]) s[i][j][e] = NEG_INFINITY_F;
                }
            }
        }
    }
    bool grows = false;
    float tileMax[2 * M];
#pragma unroll
    for (int k = 0; k < 2 * M; k++) {
        // a tree, not a chain of dependent fmaxf
        float m[KEYS / 8];
#pragma unroll
        for (int j = 0; j < KEYS / 8; j++) m[j] = fmaxf(s[k / 2][j][2 * (k & 1)], s[k / 2][j][2 * (k & 1) + 1]);
#pragma unroll
        for (int width = KEYS / 16; width > 0; width /= 2) {
#pragma unroll
            for (int j = 0; j < width; j++) m[j] = fmaxf(m[j], m[j + width]);
        }
        m[0] = fmaxf(m[0], __shfl_xor_sync(FULL_WARP, m[0], 1));
        m[0] = fmaxf(m[0], __shfl_xor_sync(FULL_WARP, m[0], 2));
        tileMax[k] = m[0] * scaleLog2; // scale > 0: the max commutes with it
        grows |= tileMax[k] > r.max[k] + RESCALE_SLACK;
    }
    if (__any_sync(FULL_WARP, grows)) {
#pragma unroll
        for (int k = 0; k < 2 * M; k++) {
            bool moves = tileMax[k] > r.max[k] + RESCALE_SLACK;
            float correction = moves ? exp2_approx(r.max[k] - tileMax[k]) : 1.0f; // 0 from a max of −∞
            if (moves) r.max[k] = tileMax[k];
            r.sum[k] *= correction;
#pragma unroll
            for (int j = 0; j < HEAD / 8; j++) {
                r.o[k / 2][j][2 * (k & 1)] *= correction;
                r.o[k / 2][j][2 * (k & 1) + 1] *= correction;
            }
        }
    }
#pragma unroll
    for (int k = 0; k < 2 * M; k++) base[k] = r.max[k] == NEG_INFINITY_F ? 0 : r.max[k];
}

// p = exp2(s·scaleLog2 − base) for m-tile i, keys 16kk..16kk+15, added to the sums and packed as
// the p·v product's A fragment.
template <int M>
__device__ __forceinline__ void probabilities(QueryRows<M>& r, const float (&s)[M][KEYS / 8][4], int i, int kk, float scaleLog2,
                                              const float (&base)[2 * M], unsigned int (&pa)[4]) {
    float p[8];
#pragma unroll
    for (int e = 0; e < 4; e++) {
        float b = base[2 * i + (e >> 1)];
        p[e] = exp2_approx(__fmaf_rn(s[i][2 * kk][e], scaleLog2, -b));
        p[4 + e] = exp2_approx(__fmaf_rn(s[i][2 * kk + 1][e], scaleLog2, -b));
    }
    r.sum[2 * i] += p[0] + p[1] + p[4] + p[5];
    r.sum[2 * i + 1] += p[2] + p[3] + p[6] + p[7];
    pa[0] = pack_bf16x2(p[0], p[1]);
    pa[1] = pack_bf16x2(p[2], p[3]);
    pa[2] = pack_bf16x2(p[4], p[5]);
    pa[3] = pack_bf16x2(p[6], p[7]);
}

// o / sum into out [rows, S, H, d] (and, when out16 is not null, rounded to bf16 into out16, same
// layout; out may then be null: the forward with no backward after it), max + log sum (natural log)
// into logSumExp [rows·H, S]. A row whose segment is empty gets zeros and −∞.
template <int M>
__device__ __forceinline__ void write_rows(QueryRows<M>& r, int S, int H, int d, int head, int t, long long rowStart, float* out,
                                           unsigned short* out16, float* logSumExp) {
#pragma unroll
    for (int k = 0; k < 2 * M; k++) {
        float sum = r.sum[k];
        sum += __shfl_xor_sync(FULL_WARP, sum, 1);
        sum += __shfl_xor_sync(FULL_WARP, sum, 2);
        if (r.q[k] >= S) continue;
        float inverse = sum > 0 ? 1.0f / sum : 0.0f;
        long long at = ((rowStart + r.q[k]) * H + head) * d + 2 * t;
#pragma unroll
        for (int j = 0; j < HEAD / 8; j++) {
            if (8 * j + 2 * t < d) {
                float x0 = r.o[k / 2][j][2 * (k & 1)] * inverse, x1 = r.o[k / 2][j][2 * (k & 1) + 1] * inverse;
                if (out != nullptr) *(float2*) (out + at + 8 * j) = make_float2(x0, x1);
                if (out16 != nullptr) *(unsigned int*) (out16 + at + 8 * j) = pack_bf16x2(x0, x1);
            }
        }
        if (t == 0) logSumExp[(long long) blockIdx.y * S + r.q[k]] = r.max[k] * LN2 + logf(sum);
    }
}

extern "C" __global__ void __launch_bounds__(BLOCK, 2) attention_forward_flash(int S, int H, int d, float scale, const int* segmentStart,
                                                                            const int* segmentEnd, const float* qkv, float* out,
                                                                            float* logSumExp) {
    __shared__ __align__(16) unsigned int queries[QUERIES][ROW_WORDS];
    __shared__ __align__(16) unsigned int keys[KEYS][ROW_WORDS];
    __shared__ __align__(16) unsigned int valuesT[HEAD][VT_WORDS];

    int row = blockIdx.y / H, head = blockIdx.y % H;
    long long rowStart = (long long) row * S;
    int first = blockIdx.x * QUERIES;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int g = lane / 4, t = lane % 4; // the mma fragments' group (row) and thread-in-group (column pair)

    QueryRows<1> r; // 8 warps × 16 queries
    start_rows(r, first + warp * 16, g, S, rowStart, segmentStart, segmentEnd);
    int last = min(first + QUERIES, S) - 1;
    int spanLo = segmentStart[rowStart + first], spanHi = segmentEnd[rowStart + last];

    load_rows(queries, QUERIES, qkv, rowStart, first, S - first, 0, head, H, d);
    __syncthreads();
    float scaleLog2 = scale * LOG2E;

    for (int from = spanLo; from < spanHi; from += KEYS) {
        int count = min(KEYS, spanHi - from);
        __syncthreads(); // the previous tile is no longer read
        load_rows(keys, KEYS, qkv, rowStart, from, count, 1, head, H, d);
        load_values_transposed(valuesT, qkv, rowStart, from, count, head, H, d);
        __syncthreads();

        // s = q·kᵀ for 16 queries × KEYS keys: n-tile j holds keys 8j..8j+7
        float s[1][KEYS / 8][4];
#pragma unroll
        for (int j = 0; j < KEYS / 8; j++) s[0][j][0] = s[0][j][1] = s[0][j][2] = s[0][j][3] = 0;
#pragma unroll
        for (int kk = 0; kk < HEAD / 16; kk++) {
            // this warp's 16 queries, dimensions 16kk..16kk+15, as the A fragment (re-read from shared: fewer registers)
            unsigned int qa[4] = {queries[warp * 16 + g][kk * 8 + t], queries[warp * 16 + g + 8][kk * 8 + t],
                                  queries[warp * 16 + g][kk * 8 + 4 + t], queries[warp * 16 + g + 8][kk * 8 + 4 + t]};
#pragma unroll
            for (int j = 0; j < KEYS / 8; j++) mma_bf16(s[0][j], qa, keys[8 * j + g][kk * 8 + t], keys[8 * j + g][kk * 8 + 4 + t]);
        }
        float base[2];
        online_softmax_step<1, true>(r, s, from, t, scaleLog2, base);
        // p = exp2(s·scaleLog2 − max); the score tile's fragments are the p·v product's A fragments
#pragma unroll
        for (int kk = 0; kk < KEYS / 16; kk++) {
            unsigned int pa[4];
            probabilities(r, s, 0, kk, scaleLog2, base, pa);
#pragma unroll
            for (int j = 0; j < HEAD / 8; j++) {
                mma_bf16(r.o[0][j], pa, valuesT[8 * j + g][kk * 8 + t], valuesT[8 * j + g][kk * 8 + 4 + t]);
            }
        }
    }

    write_rows(r, S, H, d, head, t, rowStart, out, nullptr, logSumExp);
}

// ---- the same forward on a bf16 copy of qkv, its tiles copied asynchronously -----------------
// attention_forward_flash converts each tile on its way into shared memory, so a block waits
// for every tile's loads. This variant reads qkv16, a bf16 copy of qkv in the same layout (made
// by convert_to_bf16_vec4 before the launch): tile i + 1 is copied with cp.async while tile i is
// multiplied (two stages of keys and values, one barrier a tile). Each warp owns 32 queries (two
// m-tiles), so every k or v fragment, read with ldmatrix, feeds two mma; the query fragments stay
// in registers. Tiles that lie inside every segment of a warp's queries skip the mask. Shared and
// global addresses are worked out once per thread (at 255 registers the loop has no room for
// address arithmetic: recomputing them per copy and per ldmatrix cost a third of the time). Same
// outputs, plus an optional bf16 copy of out.

#define FLASH_THREADS 128 // 4 warps × 32 queries; Kernel.ATTENTION_FORWARD_FLASH_BF16 launches as many
#define ROW_BYTES (2 * (HEAD + 8)) // bytes per shared row of bf16: the padding keeps ldmatrix conflict-free
#define STAGE_BYTES (2 * KEYS * ROW_BYTES) // a stage: KEYS rows of keys, then KEYS of values
#define CHUNKS_PER_ROW (HEAD / 8) // 16-byte pieces of a row
#define ROWS_PER_PASS (FLASH_THREADS / CHUNKS_PER_ROW) // rows one cp.async per thread covers

// This thread's share of copying `rows` rows of one part (q, k or v) of qkv16 into shared rows:
// its 16-byte piece of rows r0, r0 + ROWS_PER_PASS, ... The addresses are worked out once;
// a tile only adds its offset (zeros past `count` rows and past d).
struct RowCopier {
    const unsigned short* qkv16;  // what an invalid copy names (it reads nothing)
    const unsigned short* source; // piece of row r0 of position 0
    long long passStride;         // elements from one of this thread's rows to its next
    long long positionStride;     // elements from one position to the next (3·H·d)
    unsigned int destination;     // shared offset of the piece within rows
    int r0;
    bool inHead;                  // the piece lies within d

    __device__ __forceinline__ RowCopier(const unsigned short* qkv16, long long rowStart, int head, int H, int d) : qkv16(qkv16) {
        int c = threadIdx.x % CHUNKS_PER_ROW;
        r0 = threadIdx.x / CHUNKS_PER_ROW;
        positionStride = 3LL * H * d;
        passStride = ROWS_PER_PASS * positionStride;
        source = qkv16 + (rowStart + r0) * positionStride + (long long) head * d + c * 8;
        destination = r0 * ROW_BYTES + c * 16;
        inHead = c * 8 < d;
    }

    // `rows` rows (a multiple of ROWS_PER_PASS) of `part` from position `from` to shared address `rowsAddress`
    template <int ROWS>
    __device__ __forceinline__ void copy(unsigned int rowsAddress, int part, int H, int d, int from, int count) const {
        const unsigned short* piece = source + from * positionStride + (long long) part * H * d;
#pragma unroll
        for (int n = 0; n < ROWS / ROWS_PER_PASS; n++) {
            bool valid = inHead && r0 + n * ROWS_PER_PASS < count;
            copy_async<16>(rowsAddress + destination + n * ROWS_PER_PASS * ROW_BYTES, valid ? piece + n * passStride : qkv16, valid);
        }
    }
};

// One key tile for a warp's 32 queries: s = q·kᵀ, the online softmax step, o += p·v. keyAddress
// and valueAddress: this lane's ldmatrix addresses in the stage's first key and value rows.
template <bool MASKED>
__device__ __forceinline__ void flash_tile(QueryRows<2>& r, const unsigned int (&qa)[2][HEAD / 16][4], unsigned int keyAddress,
                                           unsigned int valueAddress, int from, int t, float scaleLog2) {
    float s[2][KEYS / 8][4];
#pragma unroll
    for (int i = 0; i < 2; i++) {
#pragma unroll
        for (int j = 0; j < KEYS / 8; j++) s[i][j][0] = s[i][j][1] = s[i][j][2] = s[i][j][3] = 0;
    }
#pragma unroll
    for (int kk = 0; kk < HEAD / 16; kk++) {
#pragma unroll
        for (int j = 0; j < KEYS / 8; j += 2) {
            // matrices: keys 8j.. and 8(j + 1).. × dimensions 16kk.. and 16kk + 8..: b fragments of n-tiles j and j + 1
            unsigned int b[4];
            load_matrices(b, keyAddress + 8 * j * ROW_BYTES + kk * 32);
#pragma unroll
            for (int i = 0; i < 2; i++) {
                mma_bf16(s[i][j], qa[i][kk], b[0], b[1]);
                mma_bf16(s[i][j + 1], qa[i][kk], b[2], b[3]);
            }
        }
    }
    float base[4];
    online_softmax_step<2, MASKED>(r, s, from, t, scaleLog2, base);
#pragma unroll
    for (int kk = 0; kk < KEYS / 16; kk++) {
        unsigned int pa[2][4];
#pragma unroll
        for (int i = 0; i < 2; i++) probabilities(r, s, i, kk, scaleLog2, base, pa[i]);
#pragma unroll
        for (int j = 0; j < HEAD / 8; j += 2) {
            // matrices: keys 16kk.. and 16kk + 8.. × dimensions 8j.. and 8(j + 1)..; transposed, the b fragments of dimension tiles j and j + 1
            unsigned int b[4];
            load_matrices_transposed(b, valueAddress + 16 * kk * ROW_BYTES + j * 16);
#pragma unroll
            for (int i = 0; i < 2; i++) {
                mma_bf16(r.o[i][j], pa[i], b[0], b[1]);
                mma_bf16(r.o[i][j + 1], pa[i], b[2], b[3]);
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(FLASH_THREADS, 2) attention_forward_flash_bf16(int S, int H, int d, float scale,
                                                                                            const int* segmentStart,
                                                                                            const int* segmentEnd,
                                                                                            const unsigned short* qkv16, float* out,
                                                                                            unsigned short* out16, float* logSumExp) {
    // two stages, each KEYS rows of keys then KEYS of values; the queries (QUERIES = 2·KEYS rows) pass through stage 1
    __shared__ __align__(128) unsigned char stages[2][STAGE_BYTES];

    int row = blockIdx.y / H, head = blockIdx.y % H;
    long long rowStart = (long long) row * S;
    int first = blockIdx.x * QUERIES;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int t = lane % 4;

    QueryRows<2> r;
    start_rows(r, first + warp * 32, lane / 4, S, rowStart, segmentStart, segmentEnd);
    int last = min(first + QUERIES, S) - 1;
    int spanLo = segmentStart[rowStart + first], spanHi = segmentEnd[rowStart + last];
    // keys inside every segment of this warp's queries (rows past S do not count): tiles there need no mask
    int insideLo = 0, insideHi = 0x7fffffff;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        if (r.q[k] < S) {
            insideLo = max(insideLo, r.lo[k]);
            insideHi = min(insideHi, r.hi[k]);
        }
    }
    insideLo = __reduce_max_sync(FULL_WARP, insideLo);
    insideHi = __reduce_min_sync(FULL_WARP, insideHi);

    unsigned int stage0 = shared_address(stages);
    RowCopier copier(qkv16, rowStart, head, H, d);
    int tileCount = (spanHi - spanLo + KEYS - 1) / KEYS;
    copier.copy<QUERIES>(stage0 + STAGE_BYTES, 0, H, d, first, S - first);
    if (tileCount > 0) {
        copier.copy<KEYS>(stage0, 1, H, d, spanLo, spanHi - spanLo);
        copier.copy<KEYS>(stage0 + KEYS * ROW_BYTES, 2, H, d, spanLo, spanHi - spanLo);
    }
    copy_async_commit();
    copy_async_wait<0>();
    __syncthreads();
    // this warp's queries as A fragments: m-tile i, dimensions 16kk..16kk+15
    unsigned int qa[2][HEAD / 16][4];
#pragma unroll
    for (int i = 0; i < 2; i++) {
#pragma unroll
        for (int kk = 0; kk < HEAD / 16; kk++) {
            load_matrices(qa[i][kk], stage0 + STAGE_BYTES + (warp * 32 + i * 16 + (lane & 15)) * ROW_BYTES + kk * 32 + (lane >> 4) * 16);
        }
    }
    // this lane's rows and columns of the k and v matrices that ldmatrix reads (see flash_tile)
    unsigned int keyLane = ((lane & 7) + ((lane >> 4) << 3)) * ROW_BYTES + ((lane >> 3) & 1) * 16;
    unsigned int valueLane = KEYS * ROW_BYTES + (((lane >> 3) & 1) * 8 + (lane & 7)) * ROW_BYTES + (lane >> 4) * 16;

    float scaleLog2 = scale * LOG2E;
    for (int tile = 0; tile < tileCount; tile++) {
        int from = spanLo + tile * KEYS;
        unsigned int stage = stage0 + (tile & 1) * STAGE_BYTES, other = stage0 + STAGE_BYTES - (tile & 1) * STAGE_BYTES;
        if (tile > 0) copy_async_wait<0>();
        // tile's copies are visible, and every warp is done with the other stage (the previous tile, or the queries)
        __syncthreads();
        if (tile + 1 < tileCount) {
            int next = from + KEYS;
            copier.copy<KEYS>(other, 1, H, d, next, spanHi - next);
            copier.copy<KEYS>(other + KEYS * ROW_BYTES, 2, H, d, next, spanHi - next);
            copy_async_commit();
        }
        if (from >= insideLo && from + KEYS <= insideHi) {
            flash_tile<false>(r, qa, stage + keyLane, stage + valueLane, from, t, scaleLog2);
        } else {
            flash_tile<true>(r, qa, stage + keyLane, stage + valueLane, from, t, scaleLog2);
        }
    }

    write_rows(r, S, H, d, head, t, rowStart, out, out16, logSumExp);
}

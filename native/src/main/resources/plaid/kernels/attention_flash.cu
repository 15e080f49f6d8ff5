// Attention forward on the tensor cores, for the bf16 mode (CudaBackend.attention with
// GemmPrecision.BF16): flash-attention style, q·kᵀ and p·v as bf16 mma.sync m16n8k16 with fp32
// accumulation, online softmax in fp32 (exp2 of log2e-scaled scores). Same layouts, segments
// and outputs as attention_forward_tiled: qkv [rows, S, 3, H, d] (fp32, rounded to bf16 on the
// way into shared memory), out [rows, S, H, d], logSumExp [rows, H, S] (natural log).
// Grid: x = tile of QUERIES positions, y = row * H + head; 8 warps, each owning 16 queries.
// Needs d % 16 == 0, d <= HEAD (the head is zero-padded to HEAD) and 16-byte aligned tensors
// (checked on the host).
#include "common.cuh"

#define QUERIES 128 // 8 warps × 16 queries
#define KEYS 64     // keys per shared tile
#define HEAD 64     // head dimensions computed (zero-padded past d)
#define ROW_WORDS ((HEAD + 8) / 2) // 32-bit words per shared row of Q or K: 8 bf16 of padding keeps the fragment loads conflict-free
#define VT_WORDS ((KEYS + 8) / 2)  // words per shared row of vᵀ
#define FULL_WARP 0xffffffffu
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f
#define NEG_INFINITY_F (-__int_as_float(0x7f800000))

// c += a·b for one 16×8×16 tile: a row-major 16×16 bf16 (4 words), b column-major 16×8 (2 words).
__device__ __forceinline__ void mma_bf16(float* c, const unsigned int* a, unsigned int b0, unsigned int b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

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

// One warp's 16 queries as this thread holds them (the mma fragments' rows g and g + 8): each row's
// segment [lo, hi), the online softmax's running max (log2 units) and sum (this thread's columns),
// and the output accumulator, dimension tile j in o[j] (elements 0–1: row g, 2–3: row g + 8).
struct QueryRows {
    int q0, q1, lo0, hi0, lo1, hi1;
    float max0, max1, sum0, sum1;
    float o[HEAD / 8][4];
};

// This thread's rows of the block's query tile starting at `first`, with empty softmax state.
__device__ __forceinline__ void start_rows(QueryRows& r, int first, int warp, int g, int S, long long rowStart, const int* segmentStart,
                                           const int* segmentEnd) {
    r.q0 = first + warp * 16 + g;
    r.q1 = r.q0 + 8;
    r.lo0 = r.q0 < S ? segmentStart[rowStart + r.q0] : 0;
    r.hi0 = r.q0 < S ? segmentEnd[rowStart + r.q0] : 0;
    r.lo1 = r.q1 < S ? segmentStart[rowStart + r.q1] : 0;
    r.hi1 = r.q1 < S ? segmentEnd[rowStart + r.q1] : 0;
    r.max0 = r.max1 = NEG_INFINITY_F;
    r.sum0 = r.sum1 = 0;
#pragma unroll
    for (int j = 0; j < HEAD / 8; j++) r.o[j][0] = r.o[j][1] = r.o[j][2] = r.o[j][3] = 0;
}

// Scores s (16 queries × KEYS keys from `from`; n-tile j holds keys 8j..8j+7) scaled to log2 units and
// masked to each query's segment; the running max moves to include them, sum and o rescaled to it.
// base0/base1: what p = exp2(s − base) subtracts (0 for a row that has seen no key of its segment yet,
// so exp2 never sees −∞ − −∞).
__device__ __forceinline__ void online_softmax_step(QueryRows& r, float (&s)[KEYS / 8][4], int from, int t, float scaleLog2, float& base0,
                                                    float& base1) {
    float tileMax0 = NEG_INFINITY_F, tileMax1 = NEG_INFINITY_F;
#pragma unroll
    for (int j = 0; j < KEYS / 8; j++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int key = from + 8 * j + 2 * t + (e & 1);
            bool upper = e >= 2;
            int lo = upper ? r.lo1 : r.lo0, hi = upper ? r.hi1 : r.hi0;
            float x = key >= lo && key < hi ? s[j][e] * scaleLog2 : NEG_INFINITY_F;
            s[j][e] = x;
            if (upper) tileMax1 = fmaxf(tileMax1, x);
            else tileMax0 = fmaxf(tileMax0, x);
        }
    }
    tileMax0 = fmaxf(tileMax0, __shfl_xor_sync(FULL_WARP, tileMax0, 1));
    tileMax0 = fmaxf(tileMax0, __shfl_xor_sync(FULL_WARP, tileMax0, 2));
    tileMax1 = fmaxf(tileMax1, __shfl_xor_sync(FULL_WARP, tileMax1, 1));
    tileMax1 = fmaxf(tileMax1, __shfl_xor_sync(FULL_WARP, tileMax1, 2));
    float newMax0 = fmaxf(r.max0, tileMax0), newMax1 = fmaxf(r.max1, tileMax1);
    base0 = newMax0 == NEG_INFINITY_F ? 0 : newMax0;
    base1 = newMax1 == NEG_INFINITY_F ? 0 : newMax1;
    float correction0 = exp2f(r.max0 - base0), correction1 = exp2f(r.max1 - base1);
    r.max0 = newMax0;
    r.max1 = newMax1;
    r.sum0 *= correction0;
    r.sum1 *= correction1;
#pragma unroll
    for (int j = 0; j < HEAD / 8; j++) {
        r.o[j][0] *= correction0;
        r.o[j][1] *= correction0;
        r.o[j][2] *= correction1;
        r.o[j][3] *= correction1;
    }
}

// p = exp2(s − base) for keys 16kk..16kk+15, added to the sums and packed as the p·v product's A fragment.
__device__ __forceinline__ void probabilities(QueryRows& r, const float (&s)[KEYS / 8][4], int kk, float base0, float base1,
                                              unsigned int (&pa)[4]) {
    float p[8];
#pragma unroll
    for (int e = 0; e < 4; e++) {
        p[e] = exp2f(s[2 * kk][e] - (e >= 2 ? base1 : base0));
        p[4 + e] = exp2f(s[2 * kk + 1][e] - (e >= 2 ? base1 : base0));
    }
    r.sum0 += p[0] + p[1] + p[4] + p[5];
    r.sum1 += p[2] + p[3] + p[6] + p[7];
    pa[0] = pack_bf16x2(p[0], p[1]);
    pa[1] = pack_bf16x2(p[2], p[3]);
    pa[2] = pack_bf16x2(p[4], p[5]);
    pa[3] = pack_bf16x2(p[6], p[7]);
}

// o / sum into out [rows, S, H, d] and max + log sum (natural log) into logSumExp [rows·H, S]; o / sum
// also as bf16 into out16 when it is non-null, and out may be null (the forward with no backward after it).
__device__ __forceinline__ void write_rows(QueryRows& r, int S, int H, int d, int head, int t, long long rowStart, float* out,
                                           unsigned short* out16, float* logSumExp) {
    r.sum0 += __shfl_xor_sync(FULL_WARP, r.sum0, 1);
    r.sum0 += __shfl_xor_sync(FULL_WARP, r.sum0, 2);
    r.sum1 += __shfl_xor_sync(FULL_WARP, r.sum1, 1);
    r.sum1 += __shfl_xor_sync(FULL_WARP, r.sum1, 2);
    float inverse0 = 1.0f / r.sum0, inverse1 = 1.0f / r.sum1;
#pragma unroll
    for (int j = 0; j < HEAD / 8; j++) {
        int dim = 8 * j + 2 * t;
        if (dim < d) {
            long long at0 = ((rowStart + r.q0) * H + head) * d + dim, at1 = ((rowStart + r.q1) * H + head) * d + dim;
            float2 v0 = make_float2(r.o[j][0] * inverse0, r.o[j][1] * inverse0), v1 = make_float2(r.o[j][2] * inverse1, r.o[j][3] * inverse1);
            if (out) {
                if (r.q0 < S) *(float2*) (out + at0) = v0;
                if (r.q1 < S) *(float2*) (out + at1) = v1;
            }
            if (out16) {
                if (r.q0 < S) *(unsigned int*) (out16 + at0) = pack_bf16x2(v0.x, v0.y);
                if (r.q1 < S) *(unsigned int*) (out16 + at1) = pack_bf16x2(v1.x, v1.y);
            }
        }
    }
    if (t == 0) {
        if (r.q0 < S) logSumExp[(long long) blockIdx.y * S + r.q0] = r.max0 * LN2 + logf(r.sum0);
        if (r.q1 < S) logSumExp[(long long) blockIdx.y * S + r.q1] = r.max1 * LN2 + logf(r.sum1);
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

    QueryRows r; // this thread's two query rows: g and g + 8 of the warp's 16
    start_rows(r, first, warp, g, S, rowStart, segmentStart, segmentEnd);
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
        float s[KEYS / 8][4];
#pragma unroll
        for (int j = 0; j < KEYS / 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0;
#pragma unroll
        for (int kk = 0; kk < HEAD / 16; kk++) {
            // this warp's 16 queries, dimensions 16kk..16kk+15, as the A fragment (re-read from shared: fewer registers)
            unsigned int qa[4] = {queries[warp * 16 + g][kk * 8 + t], queries[warp * 16 + g + 8][kk * 8 + t],
                                  queries[warp * 16 + g][kk * 8 + 4 + t], queries[warp * 16 + g + 8][kk * 8 + 4 + t]};
#pragma unroll
            for (int j = 0; j < KEYS / 8; j++) mma_bf16(s[j], qa, keys[8 * j + g][kk * 8 + t], keys[8 * j + g][kk * 8 + 4 + t]);
        }
        float base0, base1;
        online_softmax_step(r, s, from, t, scaleLog2, base0, base1);
        // p = exp2(s − max); the score tile's fragments are the p·v product's A fragments
#pragma unroll
        for (int kk = 0; kk < KEYS / 16; kk++) {
            unsigned int pa[4];
            probabilities(r, s, kk, base0, base1, pa);
#pragma unroll
            for (int j = 0; j < HEAD / 8; j++) {
                mma_bf16(r.o[j], pa, valuesT[8 * j + g][kk * 8 + t], valuesT[8 * j + g][kk * 8 + 4 + t]);
            }
        }
    }

    write_rows(r, S, H, d, head, t, rowStart, out, nullptr, logSumExp);
}

// ---- the same forward on a bf16 copy of qkv, its tiles copied asynchronously -----------------
// attention_forward_flash converts each tile on its way into shared memory, so a block waits
// for every tile's loads. This variant reads qkv16, a bf16 copy of qkv in the same layout (made
// by convert_to_bf16_vec4 before the launch): tile i + 1 is copied with cp.async while tile i is
// multiplied (two stages of keys and values), the query fragments stay in registers, and v's
// fragments come from its [key][dimension] rows through ldmatrix.trans. Same outputs; out16, when
// non-null, receives out in bf16 too (the next GEMM's operand), and out may then be null.

__device__ __forceinline__ unsigned int shared_address(const void* pointer) {
    unsigned int address;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(address) : "l"(pointer));
    return address;
}

// 16 bytes from global to shared memory, asynchronously; zeros when !valid.
__device__ __forceinline__ void copy_async_16(void* destination, const void* source, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(shared_address(destination)), "l"(source), "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void copy_async_commit() {
    asm volatile("cp.async.commit_group;");
}

template <int PENDING>
__device__ __forceinline__ void copy_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(PENDING));
}

// `capacity` rows of `part` from position `from` (bf16 qkv16) into shared rows of ROW_WORDS words; zeros past count and d.
__device__ void copy_rows_async(unsigned int (*rows)[ROW_WORDS], int capacity, const unsigned short* qkv16, long long rowStart, int from,
                                int count, int part, int head, int H, int d) {
    for (int i = threadIdx.x; i < capacity * (HEAD / 8); i += BLOCK) {
        int r = i / (HEAD / 8), c = i % (HEAD / 8);
        bool valid = r < count && c * 8 < d;
        const unsigned short* source = valid ? qkv16 + ((rowStart + from + r) * 3 + part) * H * d + (long long) head * d + c * 8 : qkv16;
        copy_async_16(&rows[r][c * 4], source, valid);
    }
}

extern "C" __global__ void __launch_bounds__(BLOCK, 2) attention_forward_flash_bf16(int S, int H, int d, float scale,
                                                                                    const int* segmentStart, const int* segmentEnd,
                                                                                    const unsigned short* qkv16, float* out,
                                                                                    unsigned short* out16, float* logSumExp) {
    // two stages of keys and of values; the queries pass through the key stages before the loop
    __shared__ __align__(128) unsigned int keys[2][KEYS][ROW_WORDS];
    __shared__ __align__(128) unsigned int values[2][KEYS][ROW_WORDS];

    int row = blockIdx.y / H, head = blockIdx.y % H;
    long long rowStart = (long long) row * S;
    int first = blockIdx.x * QUERIES;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int g = lane / 4, t = lane % 4;

    QueryRows r;
    start_rows(r, first, warp, g, S, rowStart, segmentStart, segmentEnd);
    int last = min(first + QUERIES, S) - 1;
    int spanLo = segmentStart[rowStart + first], spanHi = segmentEnd[rowStart + last];

    unsigned int (*queries)[ROW_WORDS] = keys[0]; // QUERIES = 2 × KEYS rows: both key stages
    copy_rows_async(queries, QUERIES, qkv16, rowStart, first, S - first, 0, head, H, d);
    copy_async_commit();
    copy_async_wait<0>();
    __syncthreads();
    unsigned int qa[HEAD / 16][4];
#pragma unroll
    for (int kk = 0; kk < HEAD / 16; kk++) {
        qa[kk][0] = queries[warp * 16 + g][kk * 8 + t];
        qa[kk][1] = queries[warp * 16 + g + 8][kk * 8 + t];
        qa[kk][2] = queries[warp * 16 + g][kk * 8 + 4 + t];
        qa[kk][3] = queries[warp * 16 + g + 8][kk * 8 + 4 + t];
    }
    __syncthreads(); // the key stages are free again

    float scaleLog2 = scale * LOG2E;

    int tiles = (spanHi - spanLo + KEYS - 1) / KEYS;
    if (tiles > 0) {
        copy_rows_async(keys[0], KEYS, qkv16, rowStart, spanLo, min(KEYS, spanHi - spanLo), 1, head, H, d);
        copy_rows_async(values[0], KEYS, qkv16, rowStart, spanLo, min(KEYS, spanHi - spanLo), 2, head, H, d);
        copy_async_commit();
    }
    for (int tile = 0; tile < tiles; tile++) {
        int from = spanLo + tile * KEYS, stage = tile & 1;
        if (tile + 1 < tiles) {
            // the other stage was last read in the previous iteration, which ended with a barrier
            int next = from + KEYS;
            copy_rows_async(keys[stage ^ 1], KEYS, qkv16, rowStart, next, min(KEYS, spanHi - next), 1, head, H, d);
            copy_rows_async(values[stage ^ 1], KEYS, qkv16, rowStart, next, min(KEYS, spanHi - next), 2, head, H, d);
            copy_async_commit();
            copy_async_wait<1>();
        } else {
            copy_async_wait<0>();
        }
        __syncthreads();

        float s[KEYS / 8][4];
#pragma unroll
        for (int j = 0; j < KEYS / 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0;
#pragma unroll
        for (int kk = 0; kk < HEAD / 16; kk++) {
#pragma unroll
            for (int j = 0; j < KEYS / 8; j++) {
                mma_bf16(s[j], qa[kk], keys[stage][8 * j + g][kk * 8 + t], keys[stage][8 * j + g][kk * 8 + 4 + t]);
            }
        }
        float base0, base1;
        online_softmax_step(r, s, from, t, scaleLog2, base0, base1);
#pragma unroll
        for (int kk = 0; kk < KEYS / 16; kk++) {
            unsigned int pa[4];
            probabilities(r, s, kk, base0, base1, pa);
            // lanes 0–7, 8–15, 16–23, 24–31 address the rows of four 8×8 blocks of v: keys 16kk + 0–7 and + 8–15,
            // dimensions 8j and 8(j + 1); transposed, they are the b fragments of dimension tiles j and j + 1
            int key = kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7);
#pragma unroll
            for (int j = 0; j < HEAD / 8; j += 2) {
                unsigned int b[4];
                asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                             : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
                             : "r"(shared_address(&values[stage][key][(j + (lane >> 4)) * 4])));
                mma_bf16(r.o[j], pa, b[0], b[1]);
                mma_bf16(r.o[j + 1], pa, b[2], b[3]);
            }
        }
        __syncthreads(); // this stage is refilled two tiles on
    }

    write_rows(r, S, H, d, head, t, rowStart, out, out16, logSumExp);
}

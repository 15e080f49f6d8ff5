// Helpers shared by every kernel module. Compiled with --fmad=false so that float
// expressions round exactly as the Java reference (which never fuses multiply-adds).
#pragma once

// Threads per block of every kernel; Launcher.BLOCK launches with the same number, and
// block_reduce's tree needs a power of two.
#define BLOCK 256

#define NEG_INFINITY (-__longlong_as_double(0x7ff0000000000000LL))

// Row-wise kernels: one block per row of `width` elements (blockIdx.x is the row).
#define ROW(pointer) ((pointer) + (long long) blockIdx.x * width)
#define FOR_EACH_COLUMN(j) for (int j = threadIdx.x; j < width; j += BLOCK)

// Grid-stride loop: the grid is capped, so a thread may visit several elements.
#define FOR_EACH_ELEMENT(i, n) \
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < (n); i += (long long) gridDim.x * blockDim.x)

// Two floats rounded to bf16 (to nearest, ties to even) and packed: `lo` in the low half.
__device__ __forceinline__ unsigned int pack_bf16x2(float lo, float hi) {
    unsigned int packed;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(hi), "f"(lo));
    return packed;
}

// One float rounded to bf16 as pack_bf16x2 does.
__device__ __forceinline__ unsigned short to_bf16(float x) {
    return (unsigned short) (pack_bf16x2(x, 0.0f) & 0xffffu);
}

__device__ __forceinline__ float from_bf16(unsigned short x) {
    return __uint_as_float((unsigned int) x << 16);
}

struct Sum {
    __device__ double operator()(double a, double b) const { return a + b; }
};

struct Max {
    __device__ double operator()(double a, double b) const { return fmax(a, b); }
};

struct Min {
    __device__ double operator()(double a, double b) const { return fmin(a, b); }
};

// Combines one double per thread across the block and hands every thread the result.
// `scratch` is BLOCK doubles of shared memory; the closing barrier lets the next call reuse it
// and also publishes any shared-memory writes made before the call.
template <typename Op>
__device__ double block_reduce(double value, double* scratch, Op op) {
    scratch[threadIdx.x] = value;
    __syncthreads();
    for (int stride = BLOCK / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) scratch[threadIdx.x] = op(scratch[threadIdx.x], scratch[threadIdx.x + stride]);
        __syncthreads();
    }
    double result = scratch[0];
    __syncthreads();
    return result;
}

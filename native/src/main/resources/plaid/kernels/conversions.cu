// fp32 to bf16 copies (the bf16 mode's GEMM and attention operands), one thread per element or float4.
#include "common.cuh"

// dst[i] = bf16(src[i]): the GEMM operands of the bf16 mode (CudaBackend.gemm).
extern "C" __global__ void convert_to_bf16(long long n, const float* src, unsigned short* dst) {
    FOR_EACH_ELEMENT(i, n) dst[i] = to_bf16(src[i]);
}

// Same, four elements a thread: n = groups of four; src 16-byte and dst 8-byte aligned (checked on the host).
extern "C" __global__ void convert_to_bf16_vec4(long long n, const float4* src, uint2* dst) {
    FOR_EACH_ELEMENT(i, n) {
        float4 v = src[i];
        dst[i] = make_uint2(pack_bf16x2(v.x, v.y), pack_bf16x2(v.z, v.w));
    }
}

// Both operands of a GEMM in one launch: groups of four [0, nA) from a, the rest from b.
extern "C" __global__ void convert_two_to_bf16_vec4(long long n, long long nA, const float4* a, uint2* aDst, const float4* b, uint2* bDst) {
    FOR_EACH_ELEMENT(i, n) {
        bool first = i < nA;
        float4 v = first ? a[i] : b[i - nA];
        uint2 packed = make_uint2(pack_bf16x2(v.x, v.y), pack_bf16x2(v.z, v.w));
        if (first) aDst[i] = packed;
        else bDst[i - nA] = packed;
    }
}

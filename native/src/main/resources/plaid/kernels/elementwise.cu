// Element-wise kernels: one thread per element in a grid-stride loop; `n` is the element count.
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

extern "C" __global__ void gelu(long long n, const float* x, float* out) {
    FOR_EACH_ELEMENT(i, n) out[i] = gelu_value(x[i]);
}

// dx16, when non-null, receives dx as bf16 too: the next GEMM's operand (CudaBackend's Bf16Handoff).
extern "C" __global__ void gelu_backward(long long n, const float* dOut, const float* x, float* dx, unsigned short* dx16) {
    FOR_EACH_ELEMENT(i, n) {
        double v = x[i];
        double u = GELU_C * (v + 0.044715 * v * v * v);
        double th = tanh(u);
        double du = GELU_C * (1 + 3 * 0.044715 * v * v);
        double grad = 0.5 * (1 + th) + 0.5 * v * (1 - th * th) * du;
        float g = (float) (dOut[i] * grad);
        dx[i] = g;
        if (dx16) dx16[i] = to_bf16(g);
    }
}

// Rotary thread i's pair (n = positions · half threads): frequency j of one position, its cosine and
// sine (the angle rounded to float as the reference's float32 frequency table), and `base`, the
// element j of q's first head in qkv.
struct RotaryPair {
    float cosine, sine;
    long long base;
};

__device__ __forceinline__ RotaryPair rotary_pair(long long i, int seqLen, int heads, int half, const float* invFreq) {
    int j = (int) (i % half);
    long long position = i / half;
    float angle = (float) (int) (position % seqLen) * invFreq[j];
    return {(float) cos((double) angle), (float) sin((double) angle), position * 3 * heads * 2 * half + j};
}

// Rotary embedding on q and k of qkv [rows, seqLen, 3, heads, 2*half]; n = positions * half:
// one thread per position and frequency, which computes its cosine and sine once and rotates
// that pair of every head of q and k (consecutive threads touch consecutive floats).
// sign = -1 rotates back (the backward). qkv16, when non-null, receives the result as bf16, v
// included: the flash attention's input (CudaBackend's Bf16Handoff).
extern "C" __global__ void rotary(long long n, int seqLen, int heads, int half, const float* invFreq, float sign, float* qkv,
                                  unsigned short* qkv16) {
    FOR_EACH_ELEMENT(i, n) {
        RotaryPair rotation = rotary_pair(i, seqLen, heads, half, invFreq);
        float cosine = rotation.cosine, sine = sign * rotation.sine;
        long long base = rotation.base;
        for (int partHead = 0; partHead < 2 * heads; partHead++) { // q's heads, then k's
            long long pair = base + (long long) partHead * 2 * half;
            float x1 = qkv[pair], x2 = qkv[pair + half];
            float y1 = x1 * cosine - x2 * sine, y2 = x2 * cosine + x1 * sine;
            qkv[pair] = y1;
            qkv[pair + half] = y2;
            if (qkv16) {
                qkv16[pair] = to_bf16(y1);
                qkv16[pair + half] = to_bf16(y2);
            }
        }
        if (qkv16) { // v's heads, unrotated, complete the bf16 copy
            for (int partHead = 2 * heads; partHead < 3 * heads; partHead++) {
                long long pair = base + (long long) partHead * 2 * half;
                qkv16[pair] = to_bf16(qkv[pair]);
                qkv16[pair + half] = to_bf16(qkv[pair + half]);
            }
        }
    }
}

// The same rotation in place on q and k of a bf16 qkv16 (the bf16 mode's forward with no backward
// after it, whose QKV product writes bf16): each pair in fp32, rounded back to bf16.
extern "C" __global__ void rotary_bf16(long long n, int seqLen, int heads, int half, const float* invFreq, unsigned short* qkv16) {
    FOR_EACH_ELEMENT(i, n) {
        RotaryPair rotation = rotary_pair(i, seqLen, heads, half, invFreq);
        for (int partHead = 0; partHead < 2 * heads; partHead++) {
            long long pair = rotation.base + (long long) partHead * 2 * half;
            float x1 = from_bf16(qkv16[pair]), x2 = from_bf16(qkv16[pair + half]);
            qkv16[pair] = to_bf16(x1 * rotation.cosine - x2 * rotation.sine);
            qkv16[pair + half] = to_bf16(x2 * rotation.cosine + x1 * rotation.sine);
        }
    }
}

// out[i, :] = table[ids[i], :]; n = ids * width.
extern "C" __global__ void gather(long long n, int width, const int* ids, const float* table, float* out) {
    FOR_EACH_ELEMENT(i, n) out[i] = table[(long long) ids[i / width] * width + i % width];
}

// dTable[ids[i], :] += dOut[i, :]; atomics because ids repeat.
extern "C" __global__ void scatter_add(long long n, int width, const int* ids, const float* dOut, float* dTable) {
    FOR_EACH_ELEMENT(i, n) atomicAdd(&dTable[(long long) ids[i / width] * width + i % width], dOut[i]);
}

// AdamW with the reference's exact float/double mix: stepSize = lr / (1 - beta1^t) and
// biasCorrection2Sqrt = sqrt(1 - beta2^t) come from the host in the precision it uses.
extern "C" __global__ void adam_w(long long n, float* param, const float* grad, float* m, float* v,
                                  float beta1, float beta2, float eps, float decay, float stepSize, double biasCorrection2Sqrt) {
    FOR_EACH_ELEMENT(i, n) {
        float g = grad[i];
        float mi = m[i] + (1 - beta1) * (g - m[i]);
        float vi = v[i] * beta2 + (1 - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float p = param[i] * (1 - decay);
        param[i] = p - stepSize * mi / ((float) (sqrt((double) vi) / biasCorrection2Sqrt) + eps);
    }
}

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

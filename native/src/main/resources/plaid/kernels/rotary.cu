// Rotary position embedding of q and k in qkv [rows, seqLen, 3, heads, 2*half], on fp32 and on a bf16 copy.
#include "common.cuh"

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

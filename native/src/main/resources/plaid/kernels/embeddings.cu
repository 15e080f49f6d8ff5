// Embedding rows by id: the lookup and its gradient. One thread per element (grid-stride loop).
#include "common.cuh"

// out[i, :] = table[ids[i], :]; n = ids * width.
extern "C" __global__ void gather(long long n, int width, const int* ids, const float* table, float* out) {
    FOR_EACH_ELEMENT(i, n) out[i] = table[(long long) ids[i / width] * width + i % width];
}

// dTable[ids[i], :] += dOut[i, :]; atomics because ids repeat.
extern "C" __global__ void scatter_add(long long n, int width, const int* ids, const float* dOut, float* dTable) {
    FOR_EACH_ELEMENT(i, n) atomicAdd(&dTable[(long long) ids[i / width] * width + i % width], dOut[i]);
}

// GELU with the tanh approximation, forward and backward, in double as CpuBackend.gelu does.
#include "common.cuh"

// sqrt(2/pi) to the last bit of Java's Math.sqrt(2.0 / Math.PI).
#define GELU_C 0.7978845608028654

__device__ float gelu_value(float x) {
    double u = GELU_C * (x + 0.044715 * x * x * x);
    return (float) (0.5 * x * (1 + tanh(u)));
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

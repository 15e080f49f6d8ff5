// Tensor-core and asynchronous-copy primitives of the bf16 attention kernels (attention_flash.cu,
// attention_flash_backward.cu), as inline PTX. Shared memory is addressed by 32-bit shared
// addresses (shared_address), which a kernel can work out once and offset.
#pragma once

#define FULL_WARP 0xffffffffu
#define LOG2E 1.4426950408889634f
#define NEG_INFINITY_F (-__int_as_float(0x7f800000))

// 2^x, one MUFU instruction, denormals flushed: exp2f adds range handling that the scores never
// need; 2^−∞ = 0 for masked scores.
__device__ __forceinline__ float exp2_approx(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// c += a·b for one 16×8×16 tile: a row-major 16×16 bf16 (4 words), b column-major 16×8 (2 words).
__device__ __forceinline__ void mma_bf16(float* c, const unsigned int* a, unsigned int b0, unsigned int b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The 32-bit shared-memory address of a pointer into shared memory.
__device__ __forceinline__ unsigned int shared_address(const void* pointer) {
    return (unsigned int) __cvta_generic_to_shared(pointer);
}

// Four 8×8 bf16 matrices from shared memory, lane l addressing row l % 8 of matrix l / 8.
__device__ __forceinline__ void load_matrices(unsigned int (&m)[4], unsigned int address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(m[0]), "=r"(m[1]), "=r"(m[2]), "=r"(m[3])
                 : "r"(address));
}

// The same, each matrix transposed.
__device__ __forceinline__ void load_matrices_transposed(unsigned int (&m)[4], unsigned int address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(m[0]), "=r"(m[1]), "=r"(m[2]), "=r"(m[3])
                 : "r"(address));
}

// BYTES (4, 8 or 16) from global to shared memory, asynchronously; zeros when !valid. 16-byte
// copies bypass L1 (.cg), which only those may.
template <int BYTES>
__device__ __forceinline__ void copy_async(unsigned int destination, const void* source, bool valid) {
    if (BYTES == 16) {
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(destination), "l"(source), "r"(valid ? 16 : 0));
    } else {
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;" ::"r"(destination), "l"(source), "n"(BYTES), "r"(valid ? BYTES : 0));
    }
}

__device__ __forceinline__ void copy_async_commit() {
    asm volatile("cp.async.commit_group;");
}

// Waits until at most PENDING committed groups of copies are still in flight.
template <int PENDING>
__device__ __forceinline__ void copy_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(PENDING) : "memory");
}

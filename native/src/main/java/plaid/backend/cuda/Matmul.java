package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import plaid.backend.ComputeBackend.Epilogue;
import plaid.backend.cuda.bind.Cublas;

/**
 * The backend's GEMMs, row-major: c = alpha·op(a)·op(b) + beta·cIn, then the epilogue. Three
 * paths, by the options' arithmetic ({@link CudaOptions#gemmArithmetic()}) and the shape: bf16
 * copies of both operands multiplied through cuBLASLt where they pay ({@link Bf16Operands#pay});
 * cuBLASLt on the fp32 matrices for a bias or GELU epilogue; cuBLAS GemmEx otherwise.
 */
final class Matmul {
    /** What {@link CudaBackend#opProfile()} lists the bf16-operand GEMMs under (their conversions are listed as convert_to_bf16*). */
    static final String BF16_OPERANDS_PROFILE_KEY = "gemm bf16 (bf16 operands)";

    private final CudaDevice device;
    private final Launcher launcher;
    private final Bf16Operands bf16;
    final LtMatmul lt;
    private final MemorySegment cublas;
    /** Whether cuBLAS was given its workspace ({@link #giveCublasItsWorkspace}). */
    private boolean cublasWorkspaceSet;

    Matmul(CudaDevice device, Launcher launcher, DeviceMemory memory, Bf16Operands bf16) {
        this.device = device;
        this.launcher = launcher;
        this.bf16 = bf16;
        this.lt = new LtMatmul(device, launcher, memory);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(ADDRESS);
            Cublas.check(Cublas.cublasCreate(slot), "cublasCreate_v2");
            cublas = slot.get(ADDRESS, 0);
            Cublas.check(Cublas.cublasSetStream(cublas, device.stream()), "cublasSetStream_v2");
            // full fp32 unless a compute type asks for the tensor cores, which keeps parity with the CPU
            Cublas.check(Cublas.cublasSetMathMode(cublas, Cublas.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
        }
    }

    /** c = alpha·op(a)·op(b) + beta·cIn, then the epilogue; cIn is c, or for gemmOnto the addend. */
    void gemm(
            CudaOptions options,
            boolean transA,
            boolean transB,
            float alpha,
            CudaTensor ca,
            CudaTensor cb,
            float beta,
            CudaTensor addend,
            CudaTensor cc,
            Epilogue epilogue,
            CudaTensor bias,
            CudaTensor preActivation) {
        int m = Math.toIntExact(cc.rows()), n = cc.lastDim();
        int k = transA ? Math.toIntExact(ca.rows()) : ca.lastDim();
        if ((long) m * k != ca.numel())
            throw new IllegalArgumentException("gemm: a " + ca + " does not fit c " + cc + " with k " + k);
        if ((long) k * n != cb.numel())
            throw new IllegalArgumentException("gemm: b " + cb + " is not " + (transB ? n + "x" + k : k + "x" + n));
        boolean hasBias = epilogue == Epilogue.BIAS || epilogue == Epilogue.BIAS_GELU;
        boolean hasGelu = epilogue == Epilogue.GELU || epilogue == Epilogue.BIAS_GELU;
        if (hasBias && (bias == null || bias.numel() != n))
            throw new IllegalArgumentException("gemm: bias " + bias + " needs " + n + " values");
        if (hasGelu && preActivation != null) CudaTensor.requireSameSize(cc, preActivation, "gemm pre-activation");
        if (cc.numel() == 0) return;
        device.bind();
        GemmPrecision precision = options.gemmArithmetic();
        CudaTensor biasTensor = hasBias ? bias : null, pre = hasGelu ? preActivation : null;
        if (options.bf16OperandCopies() && Bf16Operands.pay(m, n, k)) {
            // both operands rounded to bf16 copies, then a bf16 × bf16 → fp32 product (fp32 sums): the tensor cores'
            // full rate
            LtMatmul.Operands operands = LtMatmul.Operands.bf16(() -> bf16.pair(ca, cb));
            if (lt.matmul(
                    transA,
                    transB,
                    m,
                    n,
                    k,
                    alpha,
                    operands,
                    beta,
                    addend.address(),
                    cc.address(),
                    Cublas.CUDA_R_32F,
                    biasTensor,
                    hasGelu,
                    pre,
                    BF16_OPERANDS_PROFILE_KEY)) {
                return;
            }
        }
        if (addend != cc) launcher.copy(addend, cc); // the paths below add onto c itself
        if (hasBias || hasGelu) {
            LtMatmul.Operands operands = new LtMatmul.Operands(
                    LtMatmul.alignment(ca.address()),
                    LtMatmul.alignment(cb.address()),
                    Cublas.CUDA_R_32F,
                    precision.cublasComputeType,
                    () -> new long[] {ca.address(), cb.address()});
            if (!lt.matmul(
                    transA,
                    transB,
                    m,
                    n,
                    k,
                    alpha,
                    operands,
                    beta,
                    cc.address(),
                    cc.address(),
                    Cublas.CUDA_R_32F,
                    biasTensor,
                    hasGelu,
                    pre,
                    precision.profileKey + " + epilogue")) {
                throw new CudaException(
                        "cuBLASLt has no algorithm for a " + m + "×" + n + "×" + k + " GEMM with this epilogue");
            }
            return;
        }
        giveCublasItsWorkspace();
        // cuBLAS is column-major, where a row-major X reads as Xᵀ: C = op(A)·op(B) is computed as
        // Cᵀ = op(B)ᵀ·op(A)ᵀ, an n×m column-major product with the operands swapped.
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment alphaValue = arena.allocateFrom(JAVA_FLOAT, alpha),
                    betaValue = arena.allocateFrom(JAVA_FLOAT, beta);
            long[] fingerprint = {
                transA ? 1 : 0,
                transB ? 1 : 0,
                m,
                n,
                k,
                Float.floatToRawIntBits(alpha),
                Float.floatToRawIntBits(beta),
                ca.address(),
                cb.address(),
                cc.address(),
                precision.cublasComputeType
            };
            launcher.queue(
                    precision.profileKey,
                    fingerprint,
                    () -> Cublas.check(
                            Cublas.cublasGemmEx(
                                    cublas,
                                    transB ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N,
                                    transA ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N,
                                    n,
                                    m,
                                    k,
                                    alphaValue,
                                    cb.address(),
                                    Math.max(1, transB ? k : n),
                                    ca.address(),
                                    Math.max(1, transA ? m : k),
                                    betaValue,
                                    cc.address(),
                                    n,
                                    precision.cublasComputeType),
                            "cublasGemmEx"),
                    () -> "cublasGemmEx " + m + "×" + n + "×" + k + " (" + precision.profileKey + ", beta " + beta
                            + ")");
        }
    }

    /**
     * Before the first GemmEx (a direct run, never a capture): cuBLAS's workspace is cuBLASLt's. Without one of
     * ours, cuBLAS may allocate its own for a product in the middle of a stream capture (the bf16 mode's thin
     * fast-bf16 products of fp32 matrices, where whole denoiser steps failed to capture), which breaks the capture
     * without cuBLAS reporting an error.
     */
    private void giveCublasItsWorkspace() {
        if (cublasWorkspaceSet) return;
        Cublas.check(
                Cublas.cublasSetWorkspace(cublas, lt.workspace(), LtMatmul.WORKSPACE_BYTES), "cublasSetWorkspace_v2");
        cublasWorkspaceSet = true;
    }

    void close() {
        lt.close();
        Cublas.cublasDestroy(cublas);
    }
}

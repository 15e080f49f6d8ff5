package plaid.backend.cuda;

import static plaid.backend.cuda.CudaBackend.cuda;

import plaid.backend.Tensor;

/**
 * RMSNorm and LayerNorm, forward and backward, and their weight gradients in two passes (norms.cu). The forward
 * makes the bf16 copy of its output when the next products read one ({@link Bf16Handoff}).
 */
final class NormKernels {
    /** Rows one thread of the norm weight gradient sums; chunks are capped so the second pass stays short. */
    private static final int NORM_GRAD_ROWS_PER_CHUNK = 128;

    private static final int MAX_NORM_GRAD_CHUNKS = 1024;

    private final Launcher launcher;
    private final Bf16Handoff handoff;
    private final DeviceMemory.Scratch workspace;

    NormKernels(Launcher launcher, Bf16Handoff handoff, DeviceMemory.Scratch workspace) {
        this.launcher = launcher;
        this.handoff = handoff;
        this.workspace = workspace;
    }

    void rmsNorm(CudaOptions options, Tensor x, Tensor weight, float eps, Tensor out, Tensor rstd) {
        CudaTensor cx = cuda(x), co = cuda(out);
        long out16 = handoff.reserve(options, co);
        launcher.rowwise(Kernel.RMS_NORM, cx.rows(), cx.lastDim(), cx, cuda(weight), eps, co, cuda(rstd), out16);
        handoff.made(co, out16);
    }

    void rmsNormBackward(Tensor dOut, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dWeight) {
        CudaTensor cg = cuda(dOut), cx = cuda(x), cr = cuda(rstd);
        launcher.rowwise(Kernel.RMS_NORM_BACKWARD, cx.rows(), cx.lastDim(), cg, cx, cuda(weight), cr, cuda(dx));
        if (dWeight != null) accumulateNormWeightGrad(cg, cx, cr, 0L, cuda(dWeight));
    }

    /** dWeight[j] += Σ_rows dOut·(x − mean)·rstd; meanAddress 0 for RMSNorm. */
    private void accumulateNormWeightGrad(
            CudaTensor dOut, CudaTensor x, CudaTensor rstd, long meanAddress, CudaTensor dWeight) {
        int width = x.lastDim(), rows = Math.toIntExact(x.rows());
        int chunks =
                Math.clamp((rows + NORM_GRAD_ROWS_PER_CHUNK - 1) / NORM_GRAD_ROWS_PER_CHUNK, 1, MAX_NORM_GRAD_CHUNKS);
        int rowsPerChunk = (rows + chunks - 1) / chunks;
        long partials = workspace.reserve((long) chunks * width * Double.BYTES);
        launcher.launch(
                Kernel.NORM_WEIGHT_GRAD_PARTIALS,
                (width + Launcher.BLOCK - 1) / Launcher.BLOCK,
                chunks,
                0,
                (long) width,
                rows,
                rowsPerChunk,
                dOut,
                x,
                rstd,
                meanAddress,
                partials);
        launcher.elementwise(Kernel.NORM_WEIGHT_GRAD_FINISH, width, chunks, partials, dWeight);
    }

    void layerNorm(CudaOptions options, Tensor x, Tensor weight, float eps, Tensor out, Tensor mean, Tensor rstd) {
        CudaTensor cx = cuda(x), co = cuda(out);
        long out16 = handoff.reserve(options, co);
        launcher.rowwise(
                Kernel.LAYER_NORM, cx.rows(), cx.lastDim(), cx, cuda(weight), eps, co, cuda(mean), cuda(rstd), out16);
        handoff.made(co, out16);
    }

    void layerNormBackward(Tensor dOut, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dx, Tensor dWeight) {
        CudaTensor cg = cuda(dOut), cx = cuda(x), cm = cuda(mean), cr = cuda(rstd);
        launcher.rowwise(Kernel.LAYER_NORM_BACKWARD, cx.rows(), cx.lastDim(), cg, cx, cuda(weight), cm, cr, cuda(dx));
        if (dWeight != null) accumulateNormWeightGrad(cg, cx, cr, cm.address(), cuda(dWeight));
    }
}

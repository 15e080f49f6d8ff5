package plaid.backend.cuda;

import static plaid.backend.cuda.CudaTensor.requireSameSize;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.StepGraph;
import plaid.backend.Tensor;
import plaid.backend.cuda.bind.NativeLibrary;

/**
 * The backend on an NVIDIA GPU: cuBLAS and cuBLASLt for the dense algebra ({@link Matmul}),
 * NVRTC-compiled kernels ({@code plaid/kernels/*.cu}) for the rest, in fp32 with the reference's
 * double accumulations (attention accumulates in fp32 in its tiled kernels), so results agree with
 * {@link plaid.backend.cpu.CpuBackend} to rounding. {@link GemmPrecision} TF32 and BF16 trade that
 * agreement for tensor-core speed in the matrix products; BF16 also in attention.
 *
 * <p>This class is the face: argument checks, dispatch, and the memory ops. The ops of each kernel
 * family live in a class of their own, as the kernel sources do: {@link AlgebraKernels},
 * {@link NormKernels}, {@link ActivationKernels}, {@link AttentionKernels} (which attention kernel),
 * {@link HeadKernels} and {@link OptimizerKernels}. Below them, each concern once: {@link CudaDevice}
 * (context and stream), {@link DeviceMemory} (allocations and their accounting), {@link Launcher}
 * (every queued operation, counted), {@link Matmul} and {@link LtMatmul} (the GEMMs and cuBLASLt's
 * plans), {@link Bf16Operands} and {@link Bf16Handoff} (the bf16 copies), {@link FusedBlocks} (the
 * forward-only block halves), {@link CapturedStep} (a repeated step as a CUDA graph). How it computes is
 * fixed by its {@link CudaOptions}; another option set is another face on the same device
 * ({@link #withOptions}), sharing its memory and stream.
 *
 * <p>Device memory is freed when the last tensor viewing it becomes unreachable, or at
 * {@link #close()}. For measurements: {@link #allocatedBytes()}, {@link #peakAllocatedBytes()},
 * and {@link #profileOps}, which times each operation.
 */
public final class CudaBackend implements ComputeBackend {
    /** What {@link #opProfile()} lists the bf16-operand GEMMs under (their conversions are listed as convert_to_bf16*). */
    public static final String BF16_OPERANDS_PROFILE_KEY = Matmul.BF16_OPERANDS_PROFILE_KEY;

    private final CudaOptions options;
    /** The device's parts, shared by every face of it. */
    private final CudaParts parts;

    /** Empty when a CUDA device and the libraries (driver, NVRTC, cuBLAS) are there; otherwise why not. */
    public static Optional<String> unavailableReason() {
        return CudaDevice.unavailableReason();
    }

    public static boolean isAvailable() {
        return unavailableReason().isEmpty();
    }

    /** The backend the {@code -Dplaid.cuda.*} system properties describe, read now. */
    public CudaBackend() {
        this(CudaOptions.fromSystemProperties());
    }

    /** @throws CudaException naming what is missing when {@link #isAvailable()} is false */
    public CudaBackend(CudaOptions options) {
        this.options = options;
        this.parts = new CudaParts(options.device());
        System.getLogger(CudaBackend.class.getName())
                .log(
                        System.Logger.Level.INFO,
                        () -> "CUDA backend on device " + options.device() + " ("
                                + parts.device.name() + ", sm_" + parts.device.computeCapability() + "), " + options
                                + "; libraries: "
                                + String.join("; ", NativeLibrary.loaded()));
    }

    private CudaBackend(CudaBackend base, CudaOptions options) {
        if (options.device() != base.options.device()) {
            throw new IllegalArgumentException(
                    "another face of device " + base.options.device() + " cannot run on device " + options.device());
        }
        this.options = options;
        this.parts = base.parts;
    }

    /**
     * A backend with other options on this one's device, stream and memory: tensors of either serve
     * both, and work queued by either runs in order. Closing either closes both.
     */
    public CudaBackend withOptions(CudaOptions other) {
        return new CudaBackend(this, other);
    }

    public CudaOptions options() {
        return options;
    }

    /** The device's parts, for this package's tests. */
    CudaParts parts() {
        return parts;
    }

    /** For the other CUDA libraries' calls (NCCL) on this backend's device. */
    void makeCurrent() {
        parts.device.bind();
    }

    /** The stream all of this backend's work is queued on. */
    MemorySegment stream() {
        return parts.device.stream();
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public boolean bf16Arithmetic() {
        return options.precision() == GemmPrecision.BF16;
    }

    /** Waits for all queued work, reporting any error a kernel raised. */
    public void synchronize() {
        parts.device.synchronizeStream();
    }

    @Override
    public java.util.OptionalLong deviceMemoryBytes() {
        return java.util.OptionalLong.of(parts.device.totalMemory());
    }

    /** Device bytes this backend holds now: tensors, staged arguments and workspace. */
    public long allocatedBytes() {
        return parts.memory.allocatedBytes();
    }

    /**
     * The most {@link #allocatedBytes()} since creation or {@link #resetPeakAllocatedBytes()}.
     * Tensors are freed only after the garbage collector finds them unreachable, so garbage
     * not yet collected counts too.
     */
    public long peakAllocatedBytes() {
        return parts.memory.peakAllocatedBytes();
    }

    public void resetPeakAllocatedBytes() {
        parts.memory.resetPeakAllocatedBytes();
    }

    /** Starts or stops timing every operation (see {@link OpProfile}: it slows the work down). */
    public void profileOps(boolean on) {
        parts.profile.enable(on);
    }

    /** Time per operation while profiling was on since the last {@link #resetOpProfile()}, slowest first. */
    public List<OpTiming> opProfile() {
        return parts.profile.entries();
    }

    public void resetOpProfile() {
        parts.profile.reset();
    }

    @Override
    public void close() {
        parts.close();
    }

    @Override
    public Tensor allocate(int... shape) {
        parts.device.bind();
        long n = 1;
        for (int s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n *= s;
        }
        CudaTensor tensor = new CudaTensor(parts.memory.allocateFloats(n), 0, shape);
        fill(tensor, 0f);
        return tensor;
    }

    @Override
    public void upload(float[] src, Tensor dst) {
        CudaTensor d = cuda(dst);
        if (src.length != d.numel()) throw new IllegalArgumentException("upload: " + src.length + " values into " + d);
        if (src.length > 0) parts.launcher.upload(src, d);
    }

    @Override
    public float[] download(Tensor src) {
        CudaTensor s = cuda(src);
        if (s.numel() > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("download: " + s + " does not fit a Java array");
        return s.numel() == 0 ? new float[0] : parts.launcher.download(s);
    }

    @Override
    public void fill(Tensor t, float value) {
        CudaTensor c = cuda(t);
        if (c.numel() > 0) parts.launcher.fill(c, value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CudaTensor s = cuda(src), d = cuda(dst);
        requireSameSize(s, d, "copy");
        if (s.numel() > 0) parts.launcher.copy(s, d);
    }

    static CudaTensor cuda(Tensor t) {
        return CudaTensor.of(t);
    }

    private static CudaTensor cudaOrNull(Tensor t) {
        return t == null ? null : cuda(t);
    }

    @Override
    public void gemm(
            boolean transA,
            boolean transB,
            float alpha,
            Tensor a,
            Tensor b,
            float beta,
            Tensor c,
            Epilogue epilogue,
            Tensor bias,
            Tensor preActivation) {
        CudaTensor cc = cuda(c);
        parts.matmul.gemm(
                options,
                transA,
                transB,
                alpha,
                cuda(a),
                cuda(b),
                beta,
                cc,
                cc,
                epilogue,
                cudaOrNull(bias),
                cudaOrNull(preActivation));
    }

    /** The bf16-operand path reads the addend in place, as cuBLASLt's C beside the output D; the others copy it first. */
    @Override
    public void gemmOnto(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, Tensor addend, Tensor out) {
        requireSameSize(cuda(addend), cuda(out), "gemmOnto addend");
        parts.matmul.gemm(
                options,
                transA,
                transB,
                alpha,
                cuda(a),
                cuda(b),
                1f,
                cuda(addend),
                cuda(out),
                Epilogue.NONE,
                null,
                null);
    }

    @Override
    public void attentionOnto(
            float alpha,
            Tensor x,
            Tensor wQkv,
            Tensor wOut,
            int heads,
            float[] invFreq,
            Segments segments,
            Tensor addend,
            Tensor out,
            Tensor qkv,
            Tensor attn,
            Tensor logSumExp,
            boolean forBackward) {
        if (!forBackward
                && parts.fused.attentionOnto(
                        options,
                        alpha,
                        cuda(x),
                        cuda(wQkv),
                        cuda(wOut),
                        heads,
                        invFreq,
                        segments,
                        cuda(addend),
                        cuda(out),
                        cuda(qkv),
                        cuda(attn),
                        cuda(logSumExp))) {
            return;
        }
        ComputeBackend.super.attentionOnto(
                alpha, x, wQkv, wOut, heads, invFreq, segments, addend, out, qkv, attn, logSumExp, forBackward);
    }

    @Override
    public void mlpOnto(
            float alpha,
            Tensor x,
            Tensor w1,
            Tensor w2,
            Tensor addend,
            Tensor out,
            Tensor activation,
            Tensor preActivation,
            boolean forBackward) {
        if (!forBackward
                && parts.fused.mlpOnto(
                        options, alpha, cuda(x), cuda(w1), cuda(w2), cuda(addend), cuda(out), cuda(activation))) return;
        ComputeBackend.super.mlpOnto(alpha, x, w1, w2, addend, out, activation, preActivation, forBackward);
    }

    /** A CUDA graph of the step when the options ask for graphs ({@link CapturedStep}), else direct runs. */
    @Override
    public StepGraph stepGraph() {
        return options.graphs() ? new CapturedStep(parts) : ComputeBackend.super.stepGraph();
    }

    /** Inside the body, each of the tensors is converted to bf16 once for all the products that read it. */
    @Override
    public <T> T withReadOnly(Collection<Tensor> tensors, Supplier<T> body) {
        return parts.bf16.withReadOnly(tensors, body);
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        parts.algebra.axpy(alpha, x, y);
    }

    @Override
    public void scale(Tensor t, float alpha) {
        parts.algebra.scale(t, alpha);
    }

    @Override
    public double sumOfSquares(Tensor t) {
        return parts.algebra.sumOfSquares(t);
    }

    /** One read-back for all the tensors' partial sums, added up per tensor as {@link #sumOfSquares} adds them. */
    @Override
    public double[] sumsOfSquares(List<Tensor> tensors) {
        return parts.algebra.sumsOfSquares(tensors);
    }

    @Override
    public void scaleGroups(Tensor in, float[] factors, Tensor out) {
        parts.algebra.scaleGroups(in, factors, out);
    }

    @Override
    public double[] dotGroups(Tensor a, Tensor b, int groups) {
        return parts.algebra.dotGroups(a, b, groups);
    }

    @Override
    public void addToGroupRows(Tensor v, Tensor x) {
        parts.algebra.addToGroupRows(v, x);
    }

    @Override
    public void sumGroupRows(Tensor x, Tensor out, boolean accumulate) {
        parts.algebra.sumGroupRows(x, out, accumulate);
    }

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor rstd) {
        parts.norms.rmsNorm(options, x, weight, eps, out, rstd);
    }

    @Override
    public void rmsNormBackward(Tensor dOut, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dWeight) {
        parts.norms.rmsNormBackward(dOut, x, weight, rstd, dx, dWeight);
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor mean, Tensor rstd) {
        parts.norms.layerNorm(options, x, weight, eps, out, mean, rstd);
    }

    @Override
    public void layerNormBackward(
            Tensor dOut, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dx, Tensor dWeight) {
        parts.norms.layerNormBackward(dOut, x, weight, mean, rstd, dx, dWeight);
    }

    @Override
    public void gelu(Tensor x, Tensor out) {
        parts.activations.gelu(x, out);
    }

    @Override
    public void geluBackward(Tensor dOut, Tensor x, Tensor dx) {
        parts.activations.geluBackward(options, dOut, x, dx);
    }

    @Override
    public void rotary(Tensor qkv, int heads, float[] invFreq, boolean inverse) {
        parts.activations.rotary(options, qkv, heads, invFreq, inverse);
    }

    @Override
    public void attention(Tensor qkv, int heads, Segments segments, Tensor out, Tensor logSumExp) {
        parts.attention.forward(options, cuda(qkv), heads, segments, cuda(out), cuda(logSumExp));
    }

    @Override
    public void attentionBackward(
            Tensor dOut, Tensor qkv, Tensor out, Tensor logSumExp, int heads, Segments segments, Tensor dqkv) {
        parts.attention.backward(
                options, cuda(dOut), cuda(qkv), cuda(out), cuda(logSumExp), heads, segments, cuda(dqkv));
    }

    @Override
    public void softmax(Tensor logits, Tensor probs) {
        parts.head.softmax(logits, probs);
    }

    @Override
    public int[] argmaxRows(Tensor t) {
        return parts.head.argmaxRows(t);
    }

    @Override
    public double[] crossEntropy(Tensor logits, int[] targets) {
        return parts.head.crossEntropy(logits, targets);
    }

    @Override
    public void crossEntropyBackward(Tensor probs, int[] targets, float[] rowScale, Tensor dLogits) {
        parts.head.crossEntropyBackward(probs, targets, rowScale, dLogits);
    }

    @Override
    public void softmaxBackward(Tensor probs, Tensor dProbs, Tensor dLogits, boolean accumulate) {
        parts.head.softmaxBackward(probs, dProbs, dLogits, accumulate);
    }

    @Override
    public void gather(Tensor table, int[] ids, Tensor out) {
        parts.head.gather(table, ids, out);
    }

    @Override
    public void scatterAdd(Tensor dOut, int[] ids, Tensor dTable) {
        parts.head.scatterAdd(dOut, ids, dTable);
    }

    @Override
    public void adamW(
            Tensor param,
            Tensor grad,
            Tensor m,
            Tensor v,
            float lr,
            float beta1,
            float beta2,
            float eps,
            float decay,
            int step) {
        parts.optimizer.adamW(param, grad, m, v, lr, beta1, beta2, eps, decay, step);
    }

    /** One launch for all the parameters (optimizer.cu's adam_w_multi), bit for bit the per-parameter op's results. */
    @Override
    public void adamW(
            List<AdamWTensors> tensors,
            double[] lrScale,
            double[] decayPerLr,
            double lrFactor,
            float beta1,
            float beta2,
            float eps,
            int step) {
        parts.optimizer.adamW(tensors, lrScale, decayPerLr, lrFactor, beta1, beta2, eps, step);
    }
}

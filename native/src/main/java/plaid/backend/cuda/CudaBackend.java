package plaid.backend.cuda;

import static plaid.backend.cuda.CudaTensor.groupSize;
import static plaid.backend.cuda.CudaTensor.requireSameSize;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.backend.cuda.bind.NativeLibrary;

/**
 * The backend on an NVIDIA GPU: cuBLAS and cuBLASLt for the dense algebra ({@link Matmul}),
 * NVRTC-compiled kernels ({@code plaid/kernels/*.cu}) for the rest, in fp32 with the reference's
 * double accumulations (attention accumulates in fp32 in its tiled kernels), so results agree with
 * {@link plaid.backend.cpu.CpuBackend} to rounding. {@link GemmPrecision} TF32 and BF16 trade that
 * agreement for tensor-core speed in the matrix products; BF16 also in attention.
 *
 * <p>This class is the face: argument checks, dispatch, and the simple ops. Below it, each concern
 * once: {@link CudaDevice} (context and stream), {@link DeviceMemory} (allocations and their
 * accounting), {@link Launcher} (every queued operation, counted), {@link Matmul} and
 * {@link LtMatmul} (the GEMMs and cuBLASLt's plans), {@link Bf16Operands} and {@link Bf16Handoff}
 * (the bf16 copies), {@link AttentionKernels} (which attention kernel), {@link FusedBlocks} (the
 * forward-only block halves). How it computes is fixed by its {@link CudaOptions}; another option
 * set is another face on the same device ({@link #withOptions}), sharing its memory and stream.
 *
 * <p>Device memory is freed when the last tensor viewing it becomes unreachable, or at
 * {@link #close()}. For measurements: {@link #allocatedBytes()}, {@link #peakAllocatedBytes()},
 * and {@link #profileOps}, which times each operation.
 */
public final class CudaBackend implements ComputeBackend {
    /** Elements one block of a dot-product reduction covers before the work is split over more blocks. */
    private static final long DOT_ELEMENTS_PER_BLOCK = 16L * Launcher.BLOCK;

    private static final int MAX_DOT_BLOCKS_PER_GROUP = 1024;
    /** Rows one thread of the norm weight gradient sums; chunks are capped so the second pass stays short. */
    private static final int NORM_GRAD_ROWS_PER_CHUNK = 128;

    private static final int MAX_NORM_GRAD_CHUNKS = 1024;
    /** What {@link #opProfile()} lists the bf16-operand GEMMs under (their conversions are listed as convert_to_bf16*). */
    public static final String BF16_OPERANDS_PROFILE_KEY = Matmul.BF16_OPERANDS_PROFILE_KEY;

    private final CudaOptions options;
    private final CudaDevice device;
    private final OpProfile profile;
    private final DeviceMemory memory;
    private final KernelLibrary kernels;
    private final Launcher launcher;
    private final Bf16Handoff handoff;
    private final Bf16Operands bf16;
    private final Matmul matmul;
    /** Device-only intermediates (partial sums, attention deltas). */
    private final DeviceMemory.Scratch workspace;

    private final AttentionKernels attention;
    private final FusedBlocks fused;

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
        device = new CudaDevice(options.device());
        profile = new OpProfile(device::synchronizeAll);
        memory = new DeviceMemory(device, profile);
        kernels = new KernelLibrary(device.computeCapability());
        launcher = new Launcher(device, kernels, profile);
        handoff = new Bf16Handoff(launcher, memory);
        bf16 = new Bf16Operands(launcher, memory, handoff);
        matmul = new Matmul(device, launcher, memory, bf16);
        workspace = memory.scratch();
        attention = new AttentionKernels(launcher, memory, workspace, bf16, handoff);
        fused = new FusedBlocks(device, launcher, memory, matmul.lt, bf16, attention);
        System.getLogger(CudaBackend.class.getName())
                .log(
                        System.Logger.Level.INFO,
                        () -> "CUDA backend on device " + options.device() + " ("
                                + device.name() + ", sm_" + device.computeCapability() + "), " + options
                                + "; libraries: "
                                + String.join("; ", NativeLibrary.loaded()));
    }

    private CudaBackend(CudaBackend base, CudaOptions options) {
        if (options.device() != base.options.device()) {
            throw new IllegalArgumentException(
                    "another face of device " + base.options.device() + " cannot run on device " + options.device());
        }
        this.options = options;
        device = base.device;
        profile = base.profile;
        memory = base.memory;
        kernels = base.kernels;
        launcher = base.launcher;
        handoff = base.handoff;
        bf16 = base.bf16;
        matmul = base.matmul;
        workspace = base.workspace;
        attention = base.attention;
        fused = base.fused;
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

    /** For the other CUDA libraries' calls (NCCL) on this backend's device. */
    void makeCurrent() {
        device.bind();
    }

    /** The stream all of this backend's work is queued on. */
    MemorySegment stream() {
        return device.stream();
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
        device.synchronizeStream();
    }

    /** The card's memory in bytes (what workspaces such as the chunked output head size themselves by). */
    public long deviceMemoryBytes() {
        return device.totalMemory();
    }

    /** Device bytes this backend holds now: tensors, staged arguments and workspace. */
    public long allocatedBytes() {
        return memory.allocatedBytes();
    }

    /**
     * The most {@link #allocatedBytes()} since creation or {@link #resetPeakAllocatedBytes()}.
     * Tensors are freed only after the garbage collector finds them unreachable, so garbage
     * not yet collected counts too.
     */
    public long peakAllocatedBytes() {
        return memory.peakAllocatedBytes();
    }

    public void resetPeakAllocatedBytes() {
        memory.resetPeakAllocatedBytes();
    }

    /** Starts or stops timing every operation (see {@link OpProfile}: it slows the work down). */
    public void profileOps(boolean on) {
        profile.enable(on);
    }

    /** Time per operation while profiling was on since the last {@link #resetOpProfile()}, slowest first. */
    public List<OpTiming> opProfile() {
        return profile.entries();
    }

    public void resetOpProfile() {
        profile.reset();
    }

    @Override
    public void close() {
        memory.close(() -> {
            workspace.free();
            bf16.free();
            handoff.free();
            fused.free();
            kernels.close();
            matmul.close();
            device.close();
        });
    }

    @Override
    public Tensor allocate(int... shape) {
        device.bind();
        long n = 1;
        for (int s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n *= s;
        }
        CudaTensor tensor = new CudaTensor(memory.allocateFloats(n), 0, shape);
        fill(tensor, 0f);
        return tensor;
    }

    @Override
    public void upload(float[] src, Tensor dst) {
        CudaTensor d = cuda(dst);
        if (src.length != d.numel()) throw new IllegalArgumentException("upload: " + src.length + " values into " + d);
        if (src.length > 0) launcher.upload(src, d);
    }

    @Override
    public float[] download(Tensor src) {
        CudaTensor s = cuda(src);
        if (s.numel() > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("download: " + s + " does not fit a Java array");
        return s.numel() == 0 ? new float[0] : launcher.download(s);
    }

    @Override
    public void fill(Tensor t, float value) {
        CudaTensor c = cuda(t);
        if (c.numel() > 0) launcher.fill(c, value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CudaTensor s = cuda(src), d = cuda(dst);
        requireSameSize(s, d, "copy");
        if (s.numel() > 0) launcher.copy(s, d);
    }

    static CudaTensor cuda(Tensor t) {
        return CudaTensor.of(t);
    }

    private static CudaTensor cudaOrNull(Tensor t) {
        return t == null ? null : cuda(t);
    }

    private static void checkIds(int[] ids, int vocabulary) {
        for (int id : ids) {
            if (id < 0 || id >= vocabulary)
                throw new IllegalArgumentException("target id " + id + " outside vocabulary of " + vocabulary);
        }
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
        matmul.gemm(
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
        matmul.gemm(
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
                && fused.attentionOnto(
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
                && fused.mlpOnto(
                        options, alpha, cuda(x), cuda(w1), cuda(w2), cuda(addend), cuda(out), cuda(activation))) return;
        ComputeBackend.super.mlpOnto(alpha, x, w1, w2, addend, out, activation, preActivation, forBackward);
    }

    /** Inside the body, each of the tensors is converted to bf16 once for all the products that read it. */
    @Override
    public <T> T withReadOnly(Collection<Tensor> tensors, Supplier<T> body) {
        return bf16.withReadOnly(tensors, body);
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        CudaTensor cx = cuda(x), cy = cuda(y);
        requireSameSize(cx, cy, "axpy");
        launcher.elementwise(Kernel.AXPY, cx.numel(), alpha, cx, cy);
    }

    @Override
    public void scale(Tensor t, float alpha) {
        CudaTensor c = cuda(t);
        launcher.elementwise(Kernel.SCALE, c.numel(), alpha, c);
    }

    @Override
    public double sumOfSquares(Tensor t) {
        CudaTensor c = cuda(t);
        return dotProducts(c, c, 1)[0];
    }

    @Override
    public void scaleGroups(Tensor in, float[] factors, Tensor out) {
        CudaTensor ci = cuda(in), co = cuda(out);
        requireSameSize(ci, co, "scaleGroups");
        long groupSize = groupSize(ci, factors.length);
        long[] staged = memory.stage(DeviceMemory.bits(factors));
        launcher.elementwise(Kernel.SCALE_GROUPS, ci.numel(), groupSize, staged[0], ci, co);
    }

    @Override
    public double[] dotGroups(Tensor a, Tensor b, int groups) {
        CudaTensor ca = cuda(a), cb = cuda(b);
        requireSameSize(ca, cb, "dotGroups");
        return dotProducts(ca, cb, groups);
    }

    /** Σ a·b over each of {@code groups} equal groups: partial sums per block on the device, added here in double. */
    private double[] dotProducts(CudaTensor a, CudaTensor b, int groups) {
        long groupSize = groupSize(a, groups);
        int blocksPerGroup = (int) Math.clamp(
                (groupSize + DOT_ELEMENTS_PER_BLOCK - 1) / DOT_ELEMENTS_PER_BLOCK, 1, MAX_DOT_BLOCKS_PER_GROUP);
        int partialCount = Math.multiplyExact(groups, blocksPerGroup);
        long partials = workspace.reserve((long) partialCount * Double.BYTES);
        launcher.launch(Kernel.DOT_PARTIALS, groups, blocksPerGroup, 0, groupSize, a, b, partials);
        double[] partial = memory.downloadDoubles(partials, partialCount);
        double[] sums = new double[groups];
        for (int i = 0; i < partialCount; i++) sums[i / blocksPerGroup] += partial[i];
        return sums;
    }

    @Override
    public void addToGroupRows(Tensor v, Tensor x) {
        CudaTensor cv = cuda(v), cx = cuda(x);
        int width = cv.lastDim();
        int groups = Math.toIntExact(cv.rows());
        long rowsPerGroup = groupSize(cx, groups) / width;
        launcher.elementwise(Kernel.ADD_TO_GROUP_ROWS, cx.numel(), width, rowsPerGroup, cv, cx);
    }

    @Override
    public void sumGroupRows(Tensor x, Tensor out, boolean accumulate) {
        CudaTensor cx = cuda(x), co = cuda(out);
        int width = co.lastDim();
        int groups = Math.toIntExact(co.rows());
        long rowsPerGroup = groupSize(cx, groups) / width;
        launcher.elementwise(Kernel.SUM_GROUP_ROWS, co.numel(), width, rowsPerGroup, cx, co, accumulate);
    }

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor rstd) {
        CudaTensor cx = cuda(x), co = cuda(out);
        long out16 = handoff.reserve(options, co);
        launcher.rowwise(Kernel.RMS_NORM, cx.rows(), cx.lastDim(), cx, cuda(weight), eps, co, cuda(rstd), out16);
        handoff.made(co, out16);
    }

    @Override
    public void rmsNormBackward(Tensor dOut, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dWeight) {
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

    @Override
    public void layerNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor mean, Tensor rstd) {
        CudaTensor cx = cuda(x), co = cuda(out);
        long out16 = handoff.reserve(options, co);
        launcher.rowwise(
                Kernel.LAYER_NORM, cx.rows(), cx.lastDim(), cx, cuda(weight), eps, co, cuda(mean), cuda(rstd), out16);
        handoff.made(co, out16);
    }

    @Override
    public void layerNormBackward(
            Tensor dOut, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dx, Tensor dWeight) {
        CudaTensor cg = cuda(dOut), cx = cuda(x), cm = cuda(mean), cr = cuda(rstd);
        launcher.rowwise(Kernel.LAYER_NORM_BACKWARD, cx.rows(), cx.lastDim(), cg, cx, cuda(weight), cm, cr, cuda(dx));
        if (dWeight != null) accumulateNormWeightGrad(cg, cx, cr, cm.address(), cuda(dWeight));
    }

    @Override
    public void gelu(Tensor x, Tensor out) {
        CudaTensor cx = cuda(x), co = cuda(out);
        requireSameSize(cx, co, "gelu");
        launcher.elementwise(Kernel.GELU, cx.numel(), cx, co);
    }

    @Override
    public void geluBackward(Tensor dOut, Tensor x, Tensor dx) {
        CudaTensor cx = cuda(x), cd = cuda(dx);
        long dx16 = handoff.reserve(options, cd); // the MLP's gradient goes to fc1's products next
        launcher.elementwise(Kernel.GELU_BACKWARD, cx.numel(), cuda(dOut), cx, cd, dx16);
        handoff.made(cd, dx16);
    }

    @Override
    public void rotary(Tensor qkv, int heads, float[] invFreq, boolean inverse) {
        CudaTensor c = cuda(qkv);
        int[] s = c.shape();
        if (s.length != 5)
            throw new IllegalArgumentException(
                    "rotary: qkv must be [rows, seqLen, 3, heads, headDim], got " + Arrays.toString(s));
        int seqLen = s[1], headDim = s[4], half = headDim / 2;
        if (invFreq.length != half)
            throw new IllegalArgumentException("rotary: " + invFreq.length + " frequencies for head dim " + headDim);
        long positions = c.numel() / (3L * heads * headDim);
        long[] staged = memory.stage(DeviceMemory.bits(invFreq));
        // the forward rotation's result is the flash attention's input, the inverse's (the gradient) the QKV
        // weight's products': their bf16 copy is made here
        long qkv16 = inverse || options.flashAttention() && options.flashAttentionFromBf16Copy()
                ? handoff.reserve(options, c)
                : 0;
        launcher.elementwise(
                Kernel.ROTARY, positions * half, seqLen, heads, half, staged[0], inverse ? -1f : 1f, c, qkv16);
        handoff.made(c, qkv16);
    }

    @Override
    public void attention(Tensor qkv, int heads, Segments segments, Tensor out, Tensor logSumExp) {
        attention.forward(options, cuda(qkv), heads, segments, cuda(out), cuda(logSumExp));
    }

    @Override
    public void attentionBackward(
            Tensor dOut, Tensor qkv, Tensor out, Tensor logSumExp, int heads, Segments segments, Tensor dqkv) {
        attention.backward(options, cuda(dOut), cuda(qkv), cuda(out), cuda(logSumExp), heads, segments, cuda(dqkv));
    }

    @Override
    public void softmax(Tensor logits, Tensor probs) {
        CudaTensor cl = cuda(logits), cp = cuda(probs);
        requireSameSize(cl, cp, "softmax");
        launcher.rowwise(Kernel.SOFTMAX, cl.rows(), cl.lastDim(), cl, cp);
    }

    @Override
    public int[] argmaxRows(Tensor t) {
        CudaTensor c = cuda(t);
        int width = c.lastDim(), rows = width == 0 ? 0 : Math.toIntExact(c.numel() / width);
        if (rows == 0) return new int[0];
        long found = workspace.reserve((long) rows * Double.BYTES);
        launcher.rowwise(Kernel.ARGMAX_ROWS, rows, width, c, found);
        double[] columns = memory.downloadDoubles(found, rows);
        int[] best = new int[rows];
        for (int r = 0; r < rows; r++) best[r] = (int) columns[r];
        return best;
    }

    @Override
    public double[] crossEntropy(Tensor logits, int[] targets) {
        CudaTensor cl = cuda(logits);
        int vocabulary = cl.lastDim();
        if (targets.length != cl.rows())
            throw new IllegalArgumentException(
                    "crossEntropy: " + targets.length + " targets for " + cl.rows() + " rows");
        checkIds(targets, vocabulary);
        if (targets.length == 0) return new double[0];
        long[] staged = memory.stage(targets);
        long losses = workspace.reserve((long) targets.length * Double.BYTES);
        launcher.rowwise(Kernel.CROSS_ENTROPY, targets.length, vocabulary, cl, staged[0], losses);
        return memory.downloadDoubles(losses, targets.length);
    }

    @Override
    public void crossEntropyBackward(Tensor probs, int[] targets, float[] rowScale, Tensor dLogits) {
        CudaTensor cp = cuda(probs);
        int vocabulary = cp.lastDim();
        int rows = Math.toIntExact(cp.rows());
        if (targets.length != rows)
            throw new IllegalArgumentException(
                    "crossEntropyBackward: " + targets.length + " targets for " + rows + " rows");
        checkIds(targets, vocabulary);
        if (rows == 0) return;
        long[] staged = memory.stage(targets, DeviceMemory.bits(rowScale));
        launcher.rowwise(
                Kernel.CROSS_ENTROPY_BACKWARD,
                rows,
                vocabulary,
                rows / rowScale.length,
                cp,
                staged[0],
                staged[1],
                cuda(dLogits));
    }

    @Override
    public void softmaxBackward(Tensor probs, Tensor dProbs, Tensor dLogits, boolean accumulate) {
        CudaTensor cp = cuda(probs);
        launcher.rowwise(Kernel.SOFTMAX_BACKWARD, cp.rows(), cp.lastDim(), cp, cuda(dProbs), cuda(dLogits), accumulate);
    }

    @Override
    public void gather(Tensor table, int[] ids, Tensor out) {
        CudaTensor ct = cuda(table);
        int width = ct.lastDim();
        checkIds(ids, Math.toIntExact(ct.rows()));
        if (ids.length == 0) return;
        long[] staged = memory.stage(ids);
        launcher.elementwise(Kernel.GATHER, (long) ids.length * width, width, staged[0], ct, cuda(out));
    }

    @Override
    public void scatterAdd(Tensor dOut, int[] ids, Tensor dTable) {
        CudaTensor ct = cuda(dTable);
        int width = ct.lastDim();
        checkIds(ids, Math.toIntExact(ct.rows()));
        if (ids.length == 0) return;
        long[] staged = memory.stage(ids);
        launcher.elementwise(Kernel.SCATTER_ADD, (long) ids.length * width, width, staged[0], cuda(dOut), ct);
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
        CudaTensor cp = cuda(param), cg = cuda(grad);
        requireSameSize(cp, cg, "adamW");
        // the bias corrections in double, as the reference computes them
        double biasCorrection1 = 1 - Math.pow(beta1, step), biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        float stepSize = (float) (lr / biasCorrection1);
        launcher.elementwise(
                Kernel.ADAM_W,
                cp.numel(),
                cp,
                cg,
                cuda(m),
                cuda(v),
                beta1,
                beta2,
                eps,
                decay,
                stepSize,
                biasCorrection2Sqrt);
    }
}

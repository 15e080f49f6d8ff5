package plaid.backend.cuda;

import plaid.backend.MatmulPrecision;

/**
 * Everything that decides how a {@link CudaBackend} computes, fixed when the backend is made
 * ({@link #fromSystemProperties()} reads the {@code -Dplaid.cuda.*} properties once) and never
 * changed after: another option set is another backend ({@link CudaBackend#withOptions}).
 * The bf16 switches matter only in the bf16 mode; each is on by default and exists to measure
 * what it buys (docs/benchmarks-gpu.md).
 *
 * @param device the device's ordinal ({@code -Dplaid.cuda.device}, default 0)
 * @param precision the GEMMs' arithmetic ({@code -Dplaid.cuda.precision})
 * @param tiledAttention the tiled fp32 attention kernels where the head dimension allows, else
 *     always the per-query double kernels
 * @param bf16Operands GEMMs whose arithmetic outweighs their memory traffic round both operands into
 *     bf16 copies and multiply those through cuBLASLt (off: {@code -Dplaid.cuda.bf16.fp32Operands=true},
 *     cuBLAS rounds the fp32 matrices on the fly)
 * @param flashAttention attention forward and backward on the tensor cores (off:
 *     {@code -Dplaid.cuda.bf16.fp32Attention=true}, the fp32 kernels)
 * @param flashAttentionFromBf16Copy the tensor-core forward reads a bf16 copy of qkv with its tiles
 *     copied asynchronously (off: {@code -Dplaid.cuda.bf16.flashAttentionConvertsTiles=true}, it rounds each
 *     tile on its way into shared memory)
 * @param bf16Activations the norms, the rotary and the flash attention hand a bf16 copy of their output
 *     to the op right after them, and forward-only blocks keep their activations in bf16 only (off:
 *     {@code -Dplaid.cuda.bf16.convertActivations=true}, separate conversion passes)
 * @param graphs {@link CudaBackend#stepGraph()} records a repeated step once as a CUDA graph and replays it
 *     ({@code -Dplaid.cuda.graphs=true}; off by default: each step's ops are launched one by one)
 */
public record CudaOptions(
        int device,
        GemmPrecision precision,
        boolean tiledAttention,
        boolean bf16Operands,
        boolean flashAttention,
        boolean flashAttentionFromBf16Copy,
        boolean bf16Activations,
        boolean graphs) {
    public static final String DEVICE_PROPERTY = "plaid.cuda.device";
    public static final String GRAPHS_PROPERTY = "plaid.cuda.graphs";

    public CudaOptions {
        if (device < 0)
            throw new IllegalArgumentException(DEVICE_PROPERTY + " must be a device ordinal ≥ 0, got " + device);
        if (precision == null) throw new IllegalArgumentException("precision is required");
    }

    /** Device 0, fp32, every bf16 switch on, no graphs. */
    public static CudaOptions defaults() {
        return new CudaOptions(0, GemmPrecision.FP32, true, true, true, true, true, false);
    }

    /** The options the system properties name, the defaults where they say nothing. */
    public static CudaOptions fromSystemProperties() {
        return new CudaOptions(
                Integer.getInteger(DEVICE_PROPERTY, 0),
                GemmPrecision.fromSystemProperty(),
                true,
                !Boolean.getBoolean("plaid.cuda.bf16.fp32Operands"),
                !Boolean.getBoolean("plaid.cuda.bf16.fp32Attention"),
                !Boolean.getBoolean("plaid.cuda.bf16.flashAttentionConvertsTiles"),
                !Boolean.getBoolean("plaid.cuda.bf16.convertActivations"),
                Boolean.getBoolean(GRAPHS_PROPERTY));
    }

    /** The same options on another device (a data-parallel rank's). */
    public CudaOptions withDevice(int d) {
        return new CudaOptions(
                d,
                precision,
                tiledAttention,
                bf16Operands,
                flashAttention,
                flashAttentionFromBf16Copy,
                bf16Activations,
                graphs);
    }

    public CudaOptions withPrecision(GemmPrecision p) {
        return new CudaOptions(
                device,
                p,
                tiledAttention,
                bf16Operands,
                flashAttention,
                flashAttentionFromBf16Copy,
                bf16Activations,
                graphs);
    }

    public CudaOptions withTiledAttention(boolean on) {
        return new CudaOptions(
                device,
                precision,
                on,
                bf16Operands,
                flashAttention,
                flashAttentionFromBf16Copy,
                bf16Activations,
                graphs);
    }

    public CudaOptions withBf16Operands(boolean on) {
        return new CudaOptions(
                device,
                precision,
                tiledAttention,
                on,
                flashAttention,
                flashAttentionFromBf16Copy,
                bf16Activations,
                graphs);
    }

    public CudaOptions withFlashAttention(boolean on) {
        return new CudaOptions(
                device,
                precision,
                tiledAttention,
                bf16Operands,
                on,
                flashAttentionFromBf16Copy,
                bf16Activations,
                graphs);
    }

    public CudaOptions withFlashAttentionFromBf16Copy(boolean on) {
        return new CudaOptions(
                device, precision, tiledAttention, bf16Operands, flashAttention, on, bf16Activations, graphs);
    }

    public CudaOptions withBf16Activations(boolean on) {
        return new CudaOptions(
                device,
                precision,
                tiledAttention,
                bf16Operands,
                flashAttention,
                flashAttentionFromBf16Copy,
                on,
                graphs);
    }

    public CudaOptions withGraphs(boolean on) {
        return new CudaOptions(
                device,
                precision,
                tiledAttention,
                bf16Operands,
                flashAttention,
                flashAttentionFromBf16Copy,
                bf16Activations,
                on);
    }

    /**
     * The arithmetic of a GEMM the calling thread queues, decided here alone: the precision, except
     * that a thread asking for TF32 products ({@link MatmulPrecision#withTf32}: the sampler, as
     * sample.py) gets them where the backend would run plain fp32.
     */
    GemmPrecision gemmArithmetic() {
        return precision == GemmPrecision.FP32 && MatmulPrecision.tf32() ? GemmPrecision.TF32 : precision;
    }

    /** Whether big enough GEMMs multiply bf16 copies of their operands. */
    boolean bf16OperandCopies() {
        return precision == GemmPrecision.BF16 && bf16Operands;
    }

    /** Whether attention runs on the tensor cores. */
    boolean tensorCoreAttention() {
        return precision == GemmPrecision.BF16 && flashAttention;
    }

    /** Whether ops hand a bf16 copy of their output to the next ({@link Bf16Handoff}). */
    boolean handsOverBf16() {
        return precision == GemmPrecision.BF16 && bf16Activations;
    }

    /** Whether a forward-only block may keep its activations in bf16 only ({@link FusedBlocks}). */
    boolean fusedForwardBlocks() {
        return bf16OperandCopies() && bf16Activations;
    }
}

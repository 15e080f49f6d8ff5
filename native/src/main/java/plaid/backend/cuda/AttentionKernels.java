package plaid.backend.cuda;

import java.util.List;
import plaid.backend.Segments;

/**
 * The choice among the four attention kernels, forward and backward: on the tensor cores in the
 * bf16 mode (attention_flash*.cu; from a bf16 copy of qkv with asynchronous tile copies, or
 * rounding each tile on its way in), the tiled fp32 kernels where the head dimension allows
 * (attention_tiled.cu), else the per-query double kernels (attention.cu).
 */
final class AttentionKernels {
    /** Positions per block of the tiled attention kernels (OWNERS_PER_BLOCK in attention_tiled.cu). */
    private static final int TILE = 64;
    /** The widest head and the head-dimension multiple the tiled and flash kernels handle (MAX_HEAD_DIM, 4·LANES). */
    private static final int MAX_HEAD_DIM = 64;

    private static final int HEAD_DIM_MULTIPLE = 16;
    /** The largest grid y dimension: rows × heads of one attention launch. */
    private static final int MAX_GRID_Y = 65535;
    /** Queries per block of attention_forward_flash and attention_forward_flash_bf16 (QUERIES there), and positions per block of attention_flash_backward.cu (OWNED). */
    private static final int FLASH_QUERIES = 128;

    private final Launcher launcher;
    private final DeviceMemory memory;
    private final DeviceMemory.Scratch workspace;
    private final Bf16Operands bf16;
    private final Bf16Handoff handoff;

    AttentionKernels(
            Launcher launcher,
            DeviceMemory memory,
            DeviceMemory.Scratch workspace,
            Bf16Operands bf16,
            Bf16Handoff handoff) {
        this.launcher = launcher;
        this.memory = memory;
        this.workspace = workspace;
        this.bf16 = bf16;
        this.handoff = handoff;
    }

    /** Device copies of each position's segment [start, end), and the longest segment (which sizes shared memory). */
    record SegmentBounds(long starts, long ends, int longest) {}

    /** Each position's segment bounds on the host, and the longest segment. */
    private record HostBounds(Segments of, int[] starts, int[] ends, int longest) {}

    /**
     * The bounds of the latest segments: every block of a forward passes the same (immutable) segments, which
     * need not be walked again for each.
     */
    private HostBounds latestBounds;

    SegmentBounds stage(Segments segments) {
        HostBounds host = latestBounds;
        if (host == null || host.of() != segments) latestBounds = host = bounds(segments);
        long[] staged = memory.stage(host.starts(), host.ends());
        return new SegmentBounds(staged[0], staged[1], host.longest());
    }

    private static HostBounds bounds(Segments segments) {
        int rows = segments.rows(), seqLen = segments.seqLen();
        int[] starts = new int[rows * seqLen], ends = new int[rows * seqLen];
        int longest = 0;
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < seqLen; i++) {
                starts[b * seqLen + i] = segments.segmentStart(b, i);
                ends[b * seqLen + i] = segments.segmentEnd(b, i);
                longest = Math.max(longest, ends[b * seqLen + i] - starts[b * seqLen + i]);
            }
        }
        return new HostBounds(segments, starts, ends, longest);
    }

    private static void requireLayout(CudaTensor qkv, int heads, Segments segments) {
        long expected = (long) segments.rows() * segments.seqLen() * 3 * heads * qkv.lastDim();
        if (qkv.numel() != expected) {
            throw new IllegalArgumentException("attention: qkv " + qkv + " is not [" + segments.rows() + ", "
                    + segments.seqLen() + ", 3, " + heads + ", d]");
        }
    }

    /** Whether the tensor-core kernels take this shape: heads padded to 64 dimensions in steps of 16, float4 reads. */
    static boolean flashFits(int headDim, int rowsTimesHeads, CudaTensor... tensors) {
        if (headDim > MAX_HEAD_DIM || headDim % HEAD_DIM_MULTIPLE != 0 || rowsTimesHeads > MAX_GRID_Y) return false;
        for (CudaTensor t : tensors) if (t.address() % 16 != 0) return false;
        return true;
    }

    /** Whether the tiled kernels take it: their lanes read whole float4 chunks of a head. */
    private static boolean tiledFits(CudaOptions options, int headDim, int rowsTimesHeads, CudaTensor... tensors) {
        return options.tiledAttention() && flashFits(headDim, rowsTimesHeads, tensors);
    }

    static long flashTiles(int seqLen) {
        return (seqLen + FLASH_QUERIES - 1) / FLASH_QUERIES;
    }

    private static long tiles(int seqLen) {
        return (seqLen + TILE - 1) / TILE;
    }

    void forward(
            CudaOptions options, CudaTensor cq, int heads, Segments segments, CudaTensor co, CudaTensor logSumExp) {
        requireLayout(cq, heads, segments);
        int d = cq.lastDim(), seqLen = segments.seqLen(), rowsTimesHeads = segments.rows() * heads;
        long queries = (long) rowsTimesHeads * seqLen;
        if (queries == 0) return;
        SegmentBounds bounds = stage(segments);
        if (options.tensorCoreAttention() && flashFits(d, rowsTimesHeads, cq, co)) {
            long tiles = flashTiles(seqLen);
            float scale = (float) (1.0 / Math.sqrt(d));
            if (options.flashAttentionFromBf16Copy()) {
                // handed over by the rotary, or converted into the GEMM operand scratch (free here: work on the stream
                // runs in order)
                long qkv16 = bf16.operand(cq, bf16.scratchA);
                long out16 = handoff.reserve(options, co);
                launcher.launch(
                        Kernel.ATTENTION_FORWARD_FLASH_BF16,
                        tiles,
                        rowsTimesHeads,
                        0,
                        seqLen,
                        heads,
                        d,
                        scale,
                        bounds.starts(),
                        bounds.ends(),
                        qkv16,
                        co,
                        out16,
                        logSumExp);
                handoff.made(co, out16);
            } else {
                launcher.launch(
                        Kernel.ATTENTION_FORWARD_FLASH,
                        tiles,
                        rowsTimesHeads,
                        0,
                        seqLen,
                        heads,
                        d,
                        scale,
                        bounds.starts(),
                        bounds.ends(),
                        cq,
                        co,
                        logSumExp);
            }
            return;
        }
        if (tiledFits(options, d, rowsTimesHeads, cq, co)) {
            launcher.launch(
                    Kernel.ATTENTION_FORWARD_TILED,
                    tiles(seqLen),
                    rowsTimesHeads,
                    0,
                    seqLen,
                    heads,
                    d,
                    (float) (1.0 / Math.sqrt(d)),
                    bounds.starts(),
                    bounds.ends(),
                    cq,
                    co,
                    logSumExp);
        } else {
            launcher.launch(
                    Kernel.ATTENTION_FORWARD,
                    queries,
                    1,
                    (long) bounds.longest() * Double.BYTES,
                    seqLen,
                    heads,
                    d,
                    1.0 / Math.sqrt(d),
                    bounds.starts(),
                    bounds.ends(),
                    cq,
                    co,
                    logSumExp);
        }
    }

    void backward(
            CudaOptions options,
            CudaTensor cg,
            CudaTensor cq,
            CudaTensor co,
            CudaTensor cl,
            int heads,
            Segments segments,
            CudaTensor cd) {
        requireLayout(cq, heads, segments);
        int d = cq.lastDim(), seqLen = segments.seqLen(), rowsTimesHeads = segments.rows() * heads;
        long queries = (long) rowsTimesHeads * seqLen;
        if (queries == 0) return;
        SegmentBounds bounds = stage(segments);
        double scale = 1.0 / Math.sqrt(d);
        if (options.tensorCoreAttention() && flashFits(d, rowsTimesHeads, cg, cq, co, cd)) {
            // bf16 copies in the GEMM operand scratch (free here: work on the stream runs in order): qkv's handed
            // over or converted, dOut's made with the deltas
            long qkv16 = bf16.operand(cq, bf16.scratchA);
            long dOut16 = bf16.scratchB.reserve(cg.numel() * 2), delta = workspace.reserve(queries * Float.BYTES);
            launcher.elementwise(Kernel.ATTENTION_BACKWARD_DELTA, queries * 16, d, cg, co, dOut16, delta);
            long tiles = flashTiles(seqLen);
            for (Kernel kernel :
                    List.of(Kernel.ATTENTION_BACKWARD_KEY_VALUE_FLASH, Kernel.ATTENTION_BACKWARD_QUERY_FLASH)) {
                launcher.launch(
                        kernel,
                        tiles,
                        rowsTimesHeads,
                        0,
                        seqLen,
                        heads,
                        d,
                        (float) scale,
                        bounds.starts(),
                        bounds.ends(),
                        qkv16,
                        dOut16,
                        cl,
                        delta,
                        cd);
            }
            return;
        }
        long delta = workspace.reserve(queries * Double.BYTES);
        launcher.elementwise(Kernel.ATTENTION_DELTA, queries, d, cg, co, delta);
        if (tiledFits(options, d, rowsTimesHeads, cg, cq, cd)) {
            for (Kernel kernel :
                    List.of(Kernel.ATTENTION_BACKWARD_QUERY_TILED, Kernel.ATTENTION_BACKWARD_KEY_VALUE_TILED)) {
                launcher.launch(
                        kernel,
                        tiles(seqLen),
                        rowsTimesHeads,
                        0,
                        seqLen,
                        heads,
                        d,
                        (float) scale,
                        bounds.starts(),
                        bounds.ends(),
                        cq,
                        cg,
                        cl,
                        delta,
                        cd);
            }
            return;
        }
        launcher.launch(
                Kernel.ATTENTION_BACKWARD_QUERY,
                queries,
                1,
                (long) bounds.longest() * Double.BYTES,
                seqLen,
                heads,
                d,
                scale,
                bounds.starts(),
                bounds.ends(),
                cq,
                cg,
                cl,
                delta,
                cd);
        launcher.launch(
                Kernel.ATTENTION_BACKWARD_KEY_VALUE,
                queries,
                1,
                2L * bounds.longest() * Double.BYTES,
                seqLen,
                heads,
                d,
                scale,
                bounds.starts(),
                bounds.ends(),
                cq,
                cg,
                cl,
                delta,
                cd);
    }
}

package plaid.trainer;

import io.grpc.Status;
import java.util.Locale;
import plaid.options.PlaidConfig;
import plaid.options.bow.DiffusionMode;

/**
 * What a job's training holds in memory, estimated from its shape and batch before it is
 * queued, so that a job that cannot fit is refused at submission instead of running the
 * service out of heap. The counts follow what the model allocates (its parameter list, the
 * denoiser's per-token activations, the logits) with float32 values; they leave out what is
 * small next to them.
 *
 * @param parameterBytes weights and gradients, Adam's two moments, the EMA and decay-to-init
 *     copies, and the host copy a checkpoint takes of all of them
 * @param activationBytes the training and validation batches' activations and gradients
 *     (per token: about 12·dim a block, 19·dim, 11·embed_dim), self-conditioning's extra pass
 * @param logitsBytes the B×S×V logits, their softmax and gradient, for both batches
 * @param streamBytes the training stream's rolling shuffle of seq_len chunks
 */
record JobMemory(double parameterBytes, double activationBytes, double logitsBytes, double streamBytes) {
    private static final double FLOAT = 4;

    static JobMemory of(PlaidConfig c, int shuffleBufferChunks) {
        return of(c, shuffleBufferChunks, 1);
    }

    /**
     * On {@code devices} data-parallel ranks: every rank holds a replica with its optimiser state;
     * the batch's activations are split between them (the same total).
     */
    static JobMemory of(PlaidConfig c, int shuffleBufferChunks, int devices) {
        double d = c.dim, e = c.embedDim, v = c.vocabSize;
        double parameters = parameterCount(c);
        // value, gradient, two moments; a checkpoint downloads value and moments (and the copies)
        double copies = c.ema > 0 ? 1 : 0;
        copies += c.decayToInit > 0 ? 1 : 0;
        double parameterFloats = parameters * (4 + copies) + parameters * (3 + copies);
        double trainTokens = (double) c.batchSize * c.seqLen * (c.selfcond ? 1.25 : 1);
        double validationTokens = (double) c.valBatchSize * c.seqLen;
        double perToken = c.nBlocks * (12 * d + c.nHeads + 2) + 19 * d + 11 * e + 4;
        double logitsPerToken = 3 * v * (c.diffusionMode().contains(DiffusionMode.Word.DOUBLE_LOGIT_REG) ? 2 : 1);
        double tokens = trainTokens + validationTokens;
        return new JobMemory(
                parameterFloats * FLOAT * devices,
                perToken * tokens * FLOAT,
                logitsPerToken * tokens * FLOAT,
                (double) shuffleBufferChunks * c.seqLen * 4);
    }

    /** The model's parameter count for {@code c} (the readout counted at its widest, V). */
    static double parameterCount(PlaidConfig c) {
        double d = c.dim, e = c.embedDim, v = c.vocabSize;
        double readouts = c.diffusionMode().contains(DiffusionMode.Word.DOUBLE_LOGIT_REG) ? 2 : 1;
        return 2 * d * e
                + 64 * d
                + c.nBlocks * (12 * d * d + 2 * d)
                + readouts * (d + v * d + v)
                + 3 * 1024
                + 2
                + v * e;
    }

    double totalBytes() {
        return parameterBytes + activationBytes + logitsBytes + streamBytes;
    }

    /**
     * Refuses the job with RESOURCE_EXHAUSTED, giving the estimate and the heap, when what it
     * keeps on the JVM heap exceeds the heap's maximum. On the CPU backend that is everything;
     * on a GPU the activations and logits live in device memory, which is not checked here.
     */
    void requireFitsHeap(boolean cpuBackend, long maxHeapBytes) {
        double onHeap = cpuBackend ? totalBytes() : parameterBytes + streamBytes;
        if (onHeap <= maxHeapBytes) return;
        throw Status.RESOURCE_EXHAUSTED
                .withDescription(String.format(
                        Locale.ROOT,
                        "the job needs about %s of memory on the %s backend (parameters and optimizer state %s, activations %s,"
                                + " logits %s, data stream %s) and the trainer's JVM heap is %s (-Xmx): make batch_size, seq_len,"
                                + " vocab_size or the model smaller, or give the service more memory",
                        size(onHeap),
                        cpuBackend ? "cpu" : "gpu",
                        size(parameterBytes),
                        size(activationBytes),
                        size(logitsBytes),
                        size(streamBytes),
                        size(maxHeapBytes)))
                .asRuntimeException();
    }

    /** Bytes in binary units, three significant digits (64.0 GiB, 1.21 PiB). */
    static String size(double bytes) {
        String[] units = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB"};
        int unit = 0;
        for (; bytes >= 1024 && unit < units.length - 1; unit++) bytes /= 1024;
        return String.format(Locale.ROOT, "%.3g %s", bytes, units[unit]);
    }
}

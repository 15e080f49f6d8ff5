package plaid.backend.cuda;

import java.util.Locale;

/**
 * Every kernel the backend launches and the source file (under {@code plaid/kernels/}) that
 * defines it; the {@code extern "C"} symbol is the constant's name in lower case.
 */
enum Kernel {
    AXPY(Sources.ALGEBRA),
    SCALE(Sources.ALGEBRA),
    SCALE_GROUPS(Sources.ALGEBRA),
    ADD_TO_GROUP_ROWS(Sources.ALGEBRA),
    DOT_PARTIALS(Sources.ALGEBRA),
    SUM_GROUP_ROWS(Sources.ALGEBRA),

    RMS_NORM(Sources.NORMS),
    RMS_NORM_BACKWARD(Sources.NORMS),
    LAYER_NORM(Sources.NORMS),
    LAYER_NORM_BACKWARD(Sources.NORMS),
    NORM_WEIGHT_GRAD_PARTIALS(Sources.NORMS),
    NORM_WEIGHT_GRAD_FINISH(Sources.NORMS),

    GELU(Sources.ACTIVATIONS),
    GELU_BACKWARD(Sources.ACTIVATIONS),

    ROTARY(Sources.ROTARY),
    ROTARY_BF16(Sources.ROTARY),

    SOFTMAX(Sources.HEAD),
    ARGMAX_ROWS(Sources.HEAD),
    CROSS_ENTROPY(Sources.HEAD),
    CROSS_ENTROPY_BACKWARD(Sources.HEAD),
    SOFTMAX_BACKWARD(Sources.HEAD),

    GATHER(Sources.EMBEDDINGS),
    SCATTER_ADD(Sources.EMBEDDINGS),

    ADAM_W(Sources.OPTIMIZER),
    ADAM_W_MULTI(Sources.OPTIMIZER),

    CONVERT_TO_BF16(Sources.CONVERSIONS),
    CONVERT_TO_BF16_VEC4(Sources.CONVERSIONS),
    CONVERT_TWO_TO_BF16_VEC4(Sources.CONVERSIONS),

    ATTENTION_FORWARD(Sources.ATTENTION),
    ATTENTION_DELTA(Sources.ATTENTION),
    ATTENTION_BACKWARD_QUERY(Sources.ATTENTION),
    ATTENTION_BACKWARD_KEY_VALUE(Sources.ATTENTION),

    ATTENTION_FORWARD_TILED(Sources.ATTENTION_TILED),
    ATTENTION_BACKWARD_QUERY_TILED(Sources.ATTENTION_TILED),
    ATTENTION_BACKWARD_KEY_VALUE_TILED(Sources.ATTENTION_TILED),

    ATTENTION_FORWARD_FLASH(Sources.ATTENTION_FLASH),
    /** 4 warps of 32 queries (FLASH_THREADS in attention_flash.cu): two blocks' registers fit an SM. */
    ATTENTION_FORWARD_FLASH_BF16(Sources.ATTENTION_FLASH, 128),

    ATTENTION_BACKWARD_DELTA(Sources.ATTENTION_FLASH_BACKWARD),
    ATTENTION_BACKWARD_KEY_VALUE_FLASH(Sources.ATTENTION_FLASH_BACKWARD),
    ATTENTION_BACKWARD_QUERY_FLASH(Sources.ATTENTION_FLASH_BACKWARD);

    /** The kernel source files, one per concern as ComputeBackend groups its ops; an enum constant cannot name a static field of its own enum. */
    private static final class Sources {
        static final String ALGEBRA = "algebra.cu";
        static final String NORMS = "norms.cu";
        static final String ACTIVATIONS = "activations.cu";
        static final String ROTARY = "rotary.cu";
        static final String HEAD = "head.cu";
        static final String EMBEDDINGS = "embeddings.cu";
        static final String OPTIMIZER = "optimizer.cu";
        static final String CONVERSIONS = "conversions.cu";
        static final String ATTENTION = "attention.cu";
        static final String ATTENTION_TILED = "attention_tiled.cu";
        static final String ATTENTION_FLASH = "attention_flash.cu";
        static final String ATTENTION_FLASH_BACKWARD = "attention_flash_backward.cu";
    }

    final String source;
    /** Threads per block: BLOCK of common.cuh unless the kernel is written for another count. */
    final int threads;

    Kernel(String source) {
        this(source, Launcher.BLOCK);
    }

    Kernel(String source, int threads) {
        this.source = source;
        this.threads = threads;
    }

    String symbol() {
        return name().toLowerCase(Locale.ROOT);
    }
}

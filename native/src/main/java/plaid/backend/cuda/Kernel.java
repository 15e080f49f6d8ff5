package plaid.backend.cuda;

import java.util.Locale;

/**
 * Every kernel the backend launches and the source file (under {@code plaid/kernels/}) that
 * defines it; the {@code extern "C"} symbol is the constant's name in lower case.
 */
enum Kernel {
    AXPY(Sources.ELEMENTWISE),
    SCALE(Sources.ELEMENTWISE),
    SCALE_GROUPS(Sources.ELEMENTWISE),
    ADD_TO_GROUP_ROWS(Sources.ELEMENTWISE),
    GELU(Sources.ELEMENTWISE),
    GELU_BACKWARD(Sources.ELEMENTWISE),
    ROTARY(Sources.ELEMENTWISE),
    ROTARY_BF16(Sources.ELEMENTWISE),
    GATHER(Sources.ELEMENTWISE),
    SCATTER_ADD(Sources.ELEMENTWISE),
    ADAM_W(Sources.ELEMENTWISE),
    CONVERT_TO_BF16(Sources.ELEMENTWISE),
    CONVERT_TO_BF16_VEC4(Sources.ELEMENTWISE),
    CONVERT_TWO_TO_BF16_VEC4(Sources.ELEMENTWISE),

    DOT_PARTIALS(Sources.REDUCTIONS),
    SUM_GROUP_ROWS(Sources.REDUCTIONS),
    NORM_WEIGHT_GRAD_PARTIALS(Sources.REDUCTIONS),
    NORM_WEIGHT_GRAD_FINISH(Sources.REDUCTIONS),

    RMS_NORM(Sources.ROWS),
    RMS_NORM_BACKWARD(Sources.ROWS),
    LAYER_NORM(Sources.ROWS),
    LAYER_NORM_BACKWARD(Sources.ROWS),
    SOFTMAX(Sources.ROWS),
    ARGMAX_ROWS(Sources.ROWS),
    CROSS_ENTROPY(Sources.ROWS),
    CROSS_ENTROPY_BACKWARD(Sources.ROWS),
    SOFTMAX_BACKWARD(Sources.ROWS),

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

    /** The kernel source files; an enum constant cannot name a static field of its own enum. */
    private static final class Sources {
        static final String ELEMENTWISE = "elementwise.cu";
        static final String REDUCTIONS = "reductions.cu";
        static final String ROWS = "rows.cu";
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

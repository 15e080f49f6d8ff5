package plaid.backend.cuda;

/**
 * A bf16 copy of a tensor written by the op that wrote the tensor (the norms, the rotary, the GELU
 * backward, the flash attention), for the op queued right after it, which would otherwise convert
 * the tensor itself (a bf16-operand GEMM, the flash attention): one pass over the activation fewer.
 * A copy is handed over only when the {@link Launcher} queued nothing since it was made, so a write
 * to the tensor in between cannot be missed. Two buffers, so that the op taking one copy may make
 * the next. Like the operand scratch, it assumes one thread queues work at a time.
 */
final class Bf16Handoff {
    private final Launcher launcher;
    private final DeviceMemory.Scratch first, second;
    private long madeAt = -1, address, elements, copy;

    Bf16Handoff(Launcher launcher, DeviceMemory memory) {
        this.launcher = launcher;
        this.first = memory.scratch();
        this.second = memory.scratch();
    }

    /** Where the op about to be queued writes t's bf16 copy; 0 (none) unless the options hand copies over. */
    long reserve(CudaOptions options, CudaTensor t) {
        if (!options.handsOverBf16()) return 0;
        DeviceMemory.Scratch free = first.address() == copy && copy != 0 ? second : first;
        return free.reserve(t.numel() * 2);
    }

    /** Records that the op just queued wrote t's bf16 copy at {@code copy} (0: it wrote none). */
    void made(CudaTensor t, long copy) {
        this.address = t.address();
        this.elements = t.numel();
        this.copy = copy;
        this.madeAt = copy == 0 ? -1 : launcher.queued();
    }

    /** t's bf16 copy when the op queued last made it, else 0. */
    long take(CudaTensor t) {
        return madeAt == launcher.queued() && address == t.address() && elements == t.numel() ? copy : 0;
    }

    /**
     * Holds no copy any more: the next op converts for itself, and the next copy goes to the first buffer. A
     * recorded step ({@link CapturedStep}) starts so each time, so that its copies land where they did when it
     * was captured (which buffer is free otherwise depends on the steps before).
     */
    void forget() {
        copy = 0;
        madeAt = -1;
    }

    void free() {
        first.free();
        second.free();
        copy = 0;
        madeAt = -1;
    }
}

package plaid.backend.cuda;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import plaid.backend.Tensor;

/**
 * The bf16 copies of GEMM and attention operands in the bf16 mode: handed over by the op that
 * wrote the operand ({@link Bf16Handoff}), kept for a read-only tensor ({@link #withReadOnly}), or
 * converted into one of two scratch buffers.
 */
final class Bf16Operands {
    /** The largest operand (elements) copied to bf16 scratch: bounds the scratch at 256 MiB an operand. */
    private static final long MAX_ELEMENTS = 1L << 27;
    /**
     * Flops per byte of the fp32 A, B and C below which a GEMM is bound by memory, not arithmetic
     * (a thin inner dimension, or an operand much larger than the product's work), so converting
     * its operands would cost more than the tensor cores save.
     */
    private static final double MIN_FLOPS_PER_BYTE = 32;

    private final Launcher launcher;
    private final DeviceMemory memory;
    private final Bf16Handoff handoff;
    private final StepCapture steps;
    /** Scratch for a GEMM's first and second operand (the attention uses them for qkv and dOut). */
    final DeviceMemory.Scratch scratchA, scratchB;

    /** A read-only tensor's bf16 copy: its size, and its device address once made (0 before). */
    private static final class ReadOnlyCopy {
        final long elements;
        long address;

        ReadOnlyCopy(long elements) {
            this.elements = elements;
        }
    }

    /** This thread's read-only tensors by device address, while a {@link #withReadOnly} call runs. */
    private final ThreadLocal<Map<Long, ReadOnlyCopy>> readOnlyCopies = ThreadLocal.withInitial(LinkedHashMap::new);

    Bf16Operands(Launcher launcher, DeviceMemory memory, Bf16Handoff handoff, StepCapture steps) {
        this.launcher = launcher;
        this.memory = memory;
        this.handoff = handoff;
        this.steps = steps;
        this.scratchA = memory.scratch();
        this.scratchB = memory.scratch();
    }

    /** Whether rounding both operands to bf16 copies pays for a GEMM of this shape (see the constants above). */
    static boolean pay(int m, int n, int k) {
        long aElements = (long) m * k, bElements = (long) k * n, cElements = (long) m * n;
        if (aElements > MAX_ELEMENTS || bElements > MAX_ELEMENTS) return false;
        double flops = 2.0 * m * n * k;
        return flops / (Float.BYTES * (double) (aElements + bElements + cElements)) >= MIN_FLOPS_PER_BYTE;
    }

    <T> T withReadOnly(Collection<Tensor> tensors, Supplier<T> body) {
        Map<Long, ReadOnlyCopy> copies = readOnlyCopies.get();
        if (!copies.isEmpty()) return body.get();
        for (Tensor t : tensors) {
            CudaTensor c = CudaBackend.cuda(t);
            copies.put(c.address(), new ReadOnlyCopy(c.numel()));
        }
        try {
            return body.get();
        } finally {
            for (ReadOnlyCopy copy : copies.values()) {
                if (copy.address != 0) memory.free(copy.address, copy.elements * 2);
            }
            copies.clear();
        }
    }

    /** t's bf16 copy: handed over, kept because t is read-only, or else converted into {@code scratch}. */
    long operand(CudaTensor t, DeviceMemory.Scratch scratch) {
        long handed = handoff.take(t);
        if (handed != 0) return handed;
        long kept = readOnly(t);
        return kept != 0 ? kept : convert(t, scratch);
    }

    /**
     * Bf16 copies of a GEMM's two operands {a, b}: one handed over by the op that wrote the operand, a
     * read-only operand's kept copy, the others converted into their scratch buffers, both in one
     * launch where both need converting and allow float4 reads.
     */
    long[] pair(CudaTensor a, CudaTensor b) {
        // both hand-offs are taken before anything is queued, which would end them
        long handedA = handoff.take(a), handedB = handoff.take(b);
        long readyA = handedA != 0 ? handedA : readOnly(a), readyB = handedB != 0 ? handedB : readOnly(b);
        if (readyA != 0 || readyB != 0) {
            return new long[] {readyA != 0 ? readyA : convert(a, scratchA), readyB != 0 ? readyB : convert(b, scratchB)
            };
        }
        long na = a.numel(), nb = b.numel();
        if (a.address() % 16 != 0 || na % 4 != 0 || b.address() % 16 != 0 || nb % 4 != 0) {
            return new long[] {convert(a, scratchA), convert(b, scratchB)};
        }
        long aCopy = scratchA.reserve(na * 2), bCopy = scratchB.reserve(nb * 2);
        launcher.elementwise(Kernel.CONVERT_TWO_TO_BF16_VEC4, (na + nb) / 4, na / 4, a, aCopy, b, bCopy);
        return new long[] {aCopy, bCopy};
    }

    /** The bf16 copy of a tensor in {@code scratch}: its device address. */
    private long convert(CudaTensor t, DeviceMemory.Scratch scratch) {
        return convertInto(t, scratch.reserve(t.numel() * 2));
    }

    /** Writes t as bf16 to {@code destination}; returns it. */
    private long convertInto(CudaTensor t, long destination) {
        long n = t.numel();
        if (t.address() % 16 == 0 && n % 4 == 0)
            launcher.elementwise(Kernel.CONVERT_TO_BF16_VEC4, n / 4, t, destination);
        else launcher.elementwise(Kernel.CONVERT_TO_BF16, n, t, destination);
        return destination;
    }

    /**
     * The kept bf16 copy of t when it is read-only on this thread (made at its first use, ahead of a replayed
     * step that first uses it: {@link StepCapture#beforeStep}), else 0.
     */
    private long readOnly(CudaTensor t) {
        ReadOnlyCopy copy = readOnlyCopies.get().get(t.address());
        if (copy == null || copy.elements != t.numel()) return 0;
        if (copy.address == 0) copy.address = steps.beforeStep(() -> convertInto(t, memory.alloc(copy.elements * 2)));
        return copy.address;
    }

    void free() {
        scratchA.free();
        scratchB.free();
    }
}

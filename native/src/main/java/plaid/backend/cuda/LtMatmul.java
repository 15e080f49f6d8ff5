package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import plaid.backend.cuda.bind.Cublas;
import plaid.backend.cuda.bind.CublasLt;

/**
 * Products through cuBLASLt: bf16 operands, and the bias and GELU (with its pre-activation) in the
 * product's epilogue, one pass over C. Each distinct product is planned once (descriptors and the
 * heuristic's first algorithm) and the plan kept. Row-major like {@link Matmul}: cuBLASLt is
 * column-major, so Cᵀ = op(B)ᵀ·op(A)ᵀ is computed, and the bias runs along the n rows of that result.
 */
final class LtMatmul {
    /** The workspace of cuBLASLt's products and of cuBLAS's ({@link Matmul}): NVIDIA's recommendation for Hopper. */
    static final long WORKSPACE_BYTES = 32L << 20;
    /** The alignment of the bf16 scratch copies (cuMemAlloc's). */
    private static final int BF16_SCRATCH_ALIGNMENT = 256;
    /** cublasStatus_t CUBLAS_STATUS_NOT_SUPPORTED: no algorithm for this combination. */
    private static final int NOT_SUPPORTED = 15;

    /**
     * A product's operands: their element type and alignment, the compute type, and how to get their
     * {a, b} device addresses (asked once an algorithm is found, so a product cuBLASLt cannot do
     * converts nothing).
     */
    record Operands(int alignmentA, int alignmentB, int type, int computeType, Supplier<long[]> addresses) {
        /** Bf16 operands in the scratch alignment, multiplied with fp32 sums. */
        static Operands bf16(Supplier<long[]> addresses) {
            return new Operands(
                    BF16_SCRATCH_ALIGNMENT,
                    BF16_SCRATCH_ALIGNMENT,
                    Cublas.CUDA_R_16BF,
                    Cublas.CUBLAS_COMPUTE_32F,
                    addresses);
        }
    }

    /** What decides cuBLASLt's choice of algorithm; its heuristic is asked once per key. */
    private record Key(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            int type,
            int computeType,
            int outputType,
            int epilogue,
            int alignmentA,
            int alignmentB,
            int alignmentC) {}

    /**
     * What cuBLASLt needs for one key: the operation and layout descriptors (the pointers of the bias
     * and the pre-activation are set per call) and the heuristic's first algorithm (a
     * cublasLtMatmulHeuristicResult_t); NO_PLAN when cuBLASLt has none.
     */
    private record Plan(
            MemorySegment desc,
            MemorySegment first,
            MemorySegment second,
            MemorySegment result,
            MemorySegment algorithm) {}

    private static final Plan NO_PLAN = new Plan(null, null, null, null, null);

    private final CudaDevice device;
    private final Launcher launcher;
    private final DeviceMemory memory;
    private final MemorySegment handle;
    private final Map<Key, Plan> plans = new ConcurrentHashMap<>();
    private final Arena arena = Arena.ofShared();
    private CudaTensor.Allocation workspace;

    LtMatmul(CudaDevice device, Launcher launcher, DeviceMemory memory) {
        this.device = device;
        this.launcher = launcher;
        this.memory = memory;
        try (Arena local = Arena.ofConfined()) {
            MemorySegment slot = local.allocate(ADDRESS);
            CublasLt.check(CublasLt.create(slot), "cublasLtCreate");
            handle = slot.get(ADDRESS, 0);
        }
    }

    /** The largest power of two (at most 256) dividing a device address: what cuBLASLt may assume of it. */
    static int alignment(long address) {
        return (int) Long.lowestOneBit(address | 256);
    }

    /**
     * c = alpha·op(a)·op(b) + beta·cIn with the bias and GELU applied, the pre-activation stored when
     * given. cIn and c are device addresses of outputType (fp32; bf16 for the MLP's activation).
     * False, with nothing queued, when cuBLASLt has no algorithm for it.
     */
    boolean matmul(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            float alpha,
            Operands operands,
            float beta,
            long cIn,
            long c,
            int outputType,
            CudaTensor bias,
            boolean gelu,
            CudaTensor preActivation,
            String profileKey) {
        long scratch = workspace();
        int epilogue = gelu
                ? (preActivation != null ? CublasLt.EPILOGUE_GELU_AUX : CublasLt.EPILOGUE_GELU)
                        | (bias != null ? CublasLt.EPILOGUE_BIAS : 0)
                : bias != null ? CublasLt.EPILOGUE_BIAS : CublasLt.EPILOGUE_DEFAULT;
        Key key = new Key(
                transA,
                transB,
                m,
                n,
                k,
                operands.type(),
                operands.computeType(),
                outputType,
                epilogue,
                operands.alignmentA(),
                operands.alignmentB(),
                Math.min(alignment(cIn), alignment(c)));
        Plan plan = plans.computeIfAbsent(key, this::plan);
        if (plan == NO_PLAN) return false;
        long[] addresses = operands.addresses().get();
        synchronized (plan) { // the pointers set on its descriptor hold until its matmul is queued
            try (Arena local = Arena.ofConfined()) {
                if (bias != null)
                    setAttribute(
                            plan.desc(),
                            CublasLt.MATMUL_DESC_BIAS_POINTER,
                            local.allocateFrom(JAVA_LONG, bias.address()));
                if (preActivation != null) {
                    setAttribute(
                            plan.desc(),
                            CublasLt.MATMUL_DESC_EPILOGUE_AUX_POINTER,
                            local.allocateFrom(JAVA_LONG, preActivation.address()));
                }
                MemorySegment alphaValue = local.allocateFrom(JAVA_FLOAT, alpha),
                        betaValue = local.allocateFrom(JAVA_FLOAT, beta);
                // the plan (one per key, kept until close) stands for the shapes, types, epilogue and algorithm
                long[] fingerprint = {
                    plan.desc().address(),
                    Float.floatToRawIntBits(alpha),
                    Float.floatToRawIntBits(beta),
                    addresses[0],
                    addresses[1],
                    cIn,
                    c,
                    bias != null ? bias.address() : 0,
                    preActivation != null ? preActivation.address() : 0,
                    scratch
                };
                // the algorithm is the first member of the heuristic result
                launcher.queue(
                        profileKey,
                        fingerprint,
                        () -> CublasLt.check(
                                CublasLt.matmul(
                                        handle,
                                        plan.desc(),
                                        alphaValue,
                                        addresses[1],
                                        plan.first(),
                                        addresses[0],
                                        plan.second(),
                                        betaValue,
                                        cIn,
                                        plan.result(),
                                        c,
                                        plan.result(),
                                        plan.algorithm(),
                                        scratch,
                                        WORKSPACE_BYTES,
                                        device.stream()),
                                "cublasLtMatmul"),
                        () -> "cublasLtMatmul " + m + "×" + n + "×" + k + " (" + profileKey + ", epilogue " + epilogue
                                + ")");
            }
        }
        return true;
    }

    /**
     * The device address of the {@value #WORKSPACE_BYTES}-byte workspace, allocated at the first product (a direct
     * run, never a capture). cuBLAS shares it: both queue on the one stream, so their uses never overlap.
     */
    long workspace() {
        if (workspace == null) workspace = memory.allocateFloats(WORKSPACE_BYTES / Float.BYTES);
        return workspace.address();
    }

    private Plan plan(Key key) {
        try (Arena local = Arena.ofConfined()) {
            MemorySegment slot = local.allocate(ADDRESS);
            CublasLt.check(
                    CublasLt.matmulDescCreate(slot, key.computeType(), Cublas.CUDA_R_32F), "cublasLtMatmulDescCreate");
            MemorySegment desc = slot.get(ADDRESS, 0);
            MemorySegment first = null, second = null, result = null;
            boolean kept = false;
            try {
                setAttribute(
                        desc,
                        CublasLt.MATMUL_DESC_TRANSA,
                        local.allocateFrom(JAVA_INT, key.transB() ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N));
                setAttribute(
                        desc,
                        CublasLt.MATMUL_DESC_TRANSB,
                        local.allocateFrom(JAVA_INT, key.transA() ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N));
                setAttribute(desc, CublasLt.MATMUL_DESC_EPILOGUE, local.allocateFrom(JAVA_INT, key.epilogue()));
                if (key.epilogue() == (CublasLt.EPILOGUE_GELU_AUX | CublasLt.EPILOGUE_BIAS)
                        || key.epilogue() == CublasLt.EPILOGUE_GELU_AUX) {
                    setAttribute(
                            desc, CublasLt.MATMUL_DESC_EPILOGUE_AUX_LD, local.allocateFrom(JAVA_LONG, (long) key.n()));
                }
                int m = key.m(), n = key.n(), k = key.k();
                first = layout(local, key.type(), key.transB() ? k : n, key.transB() ? n : k);
                second = layout(local, key.type(), key.transA() ? m : k, key.transA() ? k : m);
                result = layout(local, key.outputType(), n, m);
                MemorySegment algorithm = heuristic(local, desc, first, second, result, key);
                if (algorithm == null) return NO_PLAN;
                kept = true;
                return new Plan(desc, first, second, result, algorithm);
            } finally {
                if (!kept) {
                    for (MemorySegment layout : new MemorySegment[] {first, second, result})
                        if (layout != null) CublasLt.matrixLayoutDestroy(layout);
                    CublasLt.matmulDescDestroy(desc);
                }
            }
        }
    }

    /** cuBLASLt's first choice for this product, kept in {@link #arena}; null when it has none. */
    private MemorySegment heuristic(
            Arena local, MemorySegment desc, MemorySegment first, MemorySegment second, MemorySegment result, Key key) {
        MemorySegment slot = local.allocate(ADDRESS);
        CublasLt.check(CublasLt.preferenceCreate(slot), "cublasLtMatmulPreferenceCreate");
        MemorySegment preference = slot.get(ADDRESS, 0);
        try {
            CublasLt.check(
                    CublasLt.preferenceSetAttribute(
                            preference,
                            CublasLt.PREF_MAX_WORKSPACE_BYTES,
                            local.allocateFrom(JAVA_LONG, WORKSPACE_BYTES),
                            Long.BYTES),
                    "cublasLtMatmulPreferenceSetAttribute");
            // the column-major product's A is our B and its B our A
            int[][] alignments = {
                {CublasLt.PREF_MIN_ALIGNMENT_A_BYTES, key.alignmentB()},
                {CublasLt.PREF_MIN_ALIGNMENT_B_BYTES, key.alignmentA()},
                {CublasLt.PREF_MIN_ALIGNMENT_C_BYTES, key.alignmentC()},
                {CublasLt.PREF_MIN_ALIGNMENT_D_BYTES, key.alignmentC()}
            };
            for (int[] attribute : alignments) {
                CublasLt.check(
                        CublasLt.preferenceSetAttribute(
                                preference, attribute[0], local.allocateFrom(JAVA_INT, attribute[1]), Integer.BYTES),
                        "cublasLtMatmulPreferenceSetAttribute(" + attribute[0] + ")");
            }
            MemorySegment heuristic = local.allocate(CublasLt.HEURISTIC_RESULT_BYTES, 16);
            MemorySegment found = local.allocate(JAVA_INT);
            int status = CublasLt.algoGetHeuristic(
                    handle, desc, first, second, result, result, preference, 1, heuristic, found);
            if (status == NOT_SUPPORTED || status == 0 && found.get(JAVA_INT, 0) == 0) return null;
            CublasLt.check(status, "cublasLtMatmulAlgoGetHeuristic");
            synchronized (arena) {
                return arena.allocate(CublasLt.HEURISTIC_RESULT_BYTES, 16).copyFrom(heuristic);
            }
        } finally {
            CublasLt.preferenceDestroy(preference);
        }
    }

    private static void setAttribute(MemorySegment desc, int attribute, MemorySegment value) {
        CublasLt.check(
                CublasLt.matmulDescSetAttribute(desc, attribute, value, value.byteSize()),
                "cublasLtMatmulDescSetAttribute(" + attribute + ")");
    }

    /** A column-major matrix layout of rows × cols elements of {@code type} with leading dimension rows. */
    private static MemorySegment layout(Arena local, int type, int rows, int cols) {
        MemorySegment slot = local.allocate(ADDRESS);
        CublasLt.check(
                CublasLt.matrixLayoutCreate(slot, type, rows, cols, Math.max(1, rows)), "cublasLtMatrixLayoutCreate");
        return slot.get(ADDRESS, 0);
    }

    void close() {
        for (Plan plan : plans.values()) {
            if (plan == NO_PLAN) continue;
            for (MemorySegment layout : new MemorySegment[] {plan.first(), plan.second(), plan.result()})
                CublasLt.matrixLayoutDestroy(layout);
            CublasLt.matmulDescDestroy(plan.desc());
        }
        plans.clear();
        arena.close();
        CublasLt.destroy(handle);
    }
}

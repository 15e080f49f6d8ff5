package plaid.backend.cuda;

import static plaid.backend.cuda.CudaBackend.cuda;
import static plaid.backend.cuda.CudaTensor.requireSameSize;

import java.util.List;
import plaid.backend.ComputeBackend.AdamWTensors;
import plaid.backend.Tensor;

/**
 * AdamW (optimizer.cu): one fused element-wise kernel per parameter, or one launch for a whole list of
 * parameters, which reads a device table of the parameters' tensors and fixed scales. The table is staged
 * ({@link DeviceMemory#stage}), so it is uploaded once per parameter set and found again by its content; the
 * learning-rate factor and the bias corrections, which change every step, are the launch's arguments.
 */
final class OptimizerKernels {
    /** Longs per parameter in the table (ADAM_TABLE_STRIDE in optimizer.cu). */
    static final int TABLE_STRIDE = 8;
    /** Elements of one parameter one block of the many-parameter kernel updates (32 a thread). */
    static final long ELEMENTS_PER_BLOCK = 32L * Launcher.BLOCK;

    private final Launcher launcher;
    private final DeviceMemory memory;

    OptimizerKernels(Launcher launcher, DeviceMemory memory) {
        this.launcher = launcher;
        this.memory = memory;
    }

    void adamW(
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

    /**
     * The many-parameter AdamW of {@link plaid.backend.ComputeBackend}: per parameter the table holds the four
     * addresses, the element count, the first block and the two scales (as double bits); empty parameters are
     * left out.
     */
    void adamW(
            List<AdamWTensors> tensors,
            double[] lrScale,
            double[] decayPerLr,
            double lrFactor,
            float beta1,
            float beta2,
            float eps,
            int step) {
        AdamWTensors.requireMatching(tensors, lrScale, decayPerLr);
        long[] table = new long[tensors.size() * TABLE_STRIDE];
        int entries = 0;
        long blocks = 0;
        for (int i = 0; i < tensors.size(); i++) {
            AdamWTensors t = tensors.get(i);
            CudaTensor cp = cuda(t.param()), cg = cuda(t.grad()), cm = cuda(t.m()), cv = cuda(t.v());
            requireSameSize(cp, cg, "adamW parameter " + i + " grad");
            requireSameSize(cp, cm, "adamW parameter " + i + " m");
            requireSameSize(cp, cv, "adamW parameter " + i + " v");
            if (cp.numel() == 0) continue;
            int at = entries++ * TABLE_STRIDE;
            table[at] = cp.address();
            table[at + 1] = cg.address();
            table[at + 2] = cm.address();
            table[at + 3] = cv.address();
            table[at + 4] = cp.numel();
            table[at + 5] = blocks;
            table[at + 6] = Double.doubleToRawLongBits(lrScale[i]);
            table[at + 7] = Double.doubleToRawLongBits(decayPerLr[i]);
            blocks += (cp.numel() + ELEMENTS_PER_BLOCK - 1) / ELEMENTS_PER_BLOCK;
        }
        if (entries == 0) return;
        long tableAddress = memory.stage(littleEndianWords(table, entries * TABLE_STRIDE))[0];
        // the bias corrections in double, as for the per-parameter kernel
        double biasCorrection1 = 1 - Math.pow(beta1, step), biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        launcher.launch(
                Kernel.ADAM_W_MULTI,
                blocks,
                1,
                0,
                entries,
                ELEMENTS_PER_BLOCK,
                tableAddress,
                lrFactor,
                beta1,
                beta2,
                eps,
                biasCorrection1,
                biasCorrection2Sqrt);
    }

    /** The first {@code count} longs as pairs of ints, low word first: the device reads them back as long longs. */
    private static int[] littleEndianWords(long[] values, int count) {
        int[] words = new int[2 * count];
        for (int i = 0; i < count; i++) {
            words[2 * i] = (int) values[i];
            words[2 * i + 1] = (int) (values[i] >>> 32);
        }
        return words;
    }
}

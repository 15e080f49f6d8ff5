package plaid.backend.cuda;

import static plaid.backend.cuda.CudaBackend.cuda;
import static plaid.backend.cuda.CudaTensor.groupSize;
import static plaid.backend.cuda.CudaTensor.requireSameSize;

import java.util.List;
import plaid.backend.Tensor;

/**
 * The element-wise algebra and the grouped reductions (algebra.cu): axpy, scaling, dot products of equal groups
 * (partial sums per block on the device, added on the host in double), and the per-group row broadcasts and sums.
 */
final class AlgebraKernels {
    /** Elements one block of a dot-product reduction covers before the work is split over more blocks. */
    private static final long DOT_ELEMENTS_PER_BLOCK = 16L * Launcher.BLOCK;

    private static final int MAX_DOT_BLOCKS_PER_GROUP = 1024;

    private final Launcher launcher;
    private final DeviceMemory memory;
    private final DeviceMemory.Scratch workspace;

    AlgebraKernels(Launcher launcher, DeviceMemory memory, DeviceMemory.Scratch workspace) {
        this.launcher = launcher;
        this.memory = memory;
        this.workspace = workspace;
    }

    void axpy(float alpha, Tensor x, Tensor y) {
        CudaTensor cx = cuda(x), cy = cuda(y);
        requireSameSize(cx, cy, "axpy");
        launcher.elementwise(Kernel.AXPY, cx.numel(), alpha, cx, cy);
    }

    void scale(Tensor t, float alpha) {
        CudaTensor c = cuda(t);
        launcher.elementwise(Kernel.SCALE, c.numel(), alpha, c);
    }

    double sumOfSquares(Tensor t) {
        CudaTensor c = cuda(t);
        return dotProducts(c, c, 1)[0];
    }

    /** Each tensor's partial sums as {@link #sumOfSquares} makes them, all read back at once and added per tensor alike. */
    double[] sumsOfSquares(List<Tensor> tensors) {
        int n = tensors.size();
        if (n == 0) return new double[0];
        CudaTensor[] ts = new CudaTensor[n];
        int[] blocks = new int[n];
        int[] first = new int[n];
        int total = 0;
        for (int i = 0; i < n; i++) {
            ts[i] = cuda(tensors.get(i));
            blocks[i] = blocksPerGroup(ts[i].numel());
            first[i] = total;
            total = Math.addExact(total, blocks[i]);
        }
        long partials = workspace.reserve((long) total * Double.BYTES);
        for (int i = 0; i < n; i++) {
            long at = partials + (long) first[i] * Double.BYTES;
            launcher.launch(Kernel.DOT_PARTIALS, 1, blocks[i], 0, ts[i].numel(), ts[i], ts[i], at);
        }
        double[] partial = memory.downloadDoubles(partials, total);
        double[] sums = new double[n];
        for (int i = 0; i < n; i++) for (int k = 0; k < blocks[i]; k++) sums[i] += partial[first[i] + k];
        return sums;
    }

    void scaleGroups(Tensor in, float[] factors, Tensor out) {
        CudaTensor ci = cuda(in), co = cuda(out);
        requireSameSize(ci, co, "scaleGroups");
        long groupSize = groupSize(ci, factors.length);
        long[] staged = memory.stage(DeviceMemory.bits(factors));
        launcher.elementwise(Kernel.SCALE_GROUPS, ci.numel(), groupSize, staged[0], ci, co);
    }

    double[] dotGroups(Tensor a, Tensor b, int groups) {
        CudaTensor ca = cuda(a), cb = cuda(b);
        requireSameSize(ca, cb, "dotGroups");
        return dotProducts(ca, cb, groups);
    }

    /** Σ a·b over each of {@code groups} equal groups: partial sums per block on the device, added here in double. */
    private double[] dotProducts(CudaTensor a, CudaTensor b, int groups) {
        long groupSize = groupSize(a, groups);
        int blocksPerGroup = blocksPerGroup(groupSize);
        int partialCount = Math.multiplyExact(groups, blocksPerGroup);
        long partials = workspace.reserve((long) partialCount * Double.BYTES);
        launcher.launch(Kernel.DOT_PARTIALS, groups, blocksPerGroup, 0, groupSize, a, b, partials);
        double[] partial = memory.downloadDoubles(partials, partialCount);
        double[] sums = new double[groups];
        for (int i = 0; i < partialCount; i++) sums[i / blocksPerGroup] += partial[i];
        return sums;
    }

    /** Blocks of a dot-product reduction over one group of {@code groupSize} elements. */
    private static int blocksPerGroup(long groupSize) {
        return (int) Math.clamp(
                (groupSize + DOT_ELEMENTS_PER_BLOCK - 1) / DOT_ELEMENTS_PER_BLOCK, 1, MAX_DOT_BLOCKS_PER_GROUP);
    }

    void addToGroupRows(Tensor v, Tensor x) {
        CudaTensor cv = cuda(v), cx = cuda(x);
        int width = cv.lastDim();
        int groups = Math.toIntExact(cv.rows());
        long rowsPerGroup = groupSize(cx, groups) / width;
        launcher.elementwise(Kernel.ADD_TO_GROUP_ROWS, cx.numel(), width, rowsPerGroup, cv, cx);
    }

    void sumGroupRows(Tensor x, Tensor out, boolean accumulate) {
        CudaTensor cx = cuda(x), co = cuda(out);
        int width = co.lastDim();
        int groups = Math.toIntExact(co.rows());
        long rowsPerGroup = groupSize(cx, groups) / width;
        launcher.elementwise(Kernel.SUM_GROUP_ROWS, co.numel(), width, rowsPerGroup, cx, co, accumulate);
    }
}

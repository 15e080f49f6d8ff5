package plaid.backend.cuda;

import static plaid.backend.cuda.CudaBackend.cuda;
import static plaid.backend.cuda.CudaTensor.requireSameSize;

import plaid.backend.Tensor;

/**
 * The output head's row operations (head.cu: softmax, argmax, cross-entropy and their backward) and the embedding
 * table's gather and scatter-add (embeddings.cu). Ids are checked on the host before anything is queued.
 */
final class HeadKernels {
    private final Launcher launcher;
    private final DeviceMemory memory;
    private final DeviceMemory.Scratch workspace;

    HeadKernels(Launcher launcher, DeviceMemory memory, DeviceMemory.Scratch workspace) {
        this.launcher = launcher;
        this.memory = memory;
        this.workspace = workspace;
    }

    void softmax(Tensor logits, Tensor probs) {
        CudaTensor cl = cuda(logits), cp = cuda(probs);
        requireSameSize(cl, cp, "softmax");
        launcher.rowwise(Kernel.SOFTMAX, cl.rows(), cl.lastDim(), cl, cp);
    }

    int[] argmaxRows(Tensor t) {
        CudaTensor c = cuda(t);
        int width = c.lastDim(), rows = width == 0 ? 0 : Math.toIntExact(c.numel() / width);
        if (rows == 0) return new int[0];
        long found = workspace.reserve((long) rows * Double.BYTES);
        launcher.rowwise(Kernel.ARGMAX_ROWS, rows, width, c, found);
        double[] columns = memory.downloadDoubles(found, rows);
        int[] best = new int[rows];
        for (int r = 0; r < rows; r++) best[r] = (int) columns[r];
        return best;
    }

    double[] crossEntropy(Tensor logits, int[] targets) {
        CudaTensor cl = cuda(logits);
        int vocabulary = cl.lastDim();
        if (targets.length != cl.rows())
            throw new IllegalArgumentException(
                    "crossEntropy: " + targets.length + " targets for " + cl.rows() + " rows");
        checkIds(targets, vocabulary);
        if (targets.length == 0) return new double[0];
        long[] staged = memory.stage(targets);
        long losses = workspace.reserve((long) targets.length * Double.BYTES);
        launcher.rowwise(Kernel.CROSS_ENTROPY, targets.length, vocabulary, cl, staged[0], losses);
        return memory.downloadDoubles(losses, targets.length);
    }

    void crossEntropyBackward(Tensor probs, int[] targets, float[] rowScale, Tensor dLogits) {
        CudaTensor cp = cuda(probs);
        int vocabulary = cp.lastDim();
        int rows = Math.toIntExact(cp.rows());
        if (targets.length != rows)
            throw new IllegalArgumentException(
                    "crossEntropyBackward: " + targets.length + " targets for " + rows + " rows");
        checkIds(targets, vocabulary);
        if (rows == 0) return;
        long[] staged = memory.stage(targets, DeviceMemory.bits(rowScale));
        launcher.rowwise(
                Kernel.CROSS_ENTROPY_BACKWARD,
                rows,
                vocabulary,
                rows / rowScale.length,
                cp,
                staged[0],
                staged[1],
                cuda(dLogits));
    }

    void softmaxBackward(Tensor probs, Tensor dProbs, Tensor dLogits, boolean accumulate) {
        CudaTensor cp = cuda(probs);
        launcher.rowwise(Kernel.SOFTMAX_BACKWARD, cp.rows(), cp.lastDim(), cp, cuda(dProbs), cuda(dLogits), accumulate);
    }

    void gather(Tensor table, int[] ids, Tensor out) {
        CudaTensor ct = cuda(table);
        int width = ct.lastDim();
        checkIds(ids, Math.toIntExact(ct.rows()));
        if (ids.length == 0) return;
        long[] staged = memory.stage(ids);
        launcher.elementwise(Kernel.GATHER, (long) ids.length * width, width, staged[0], ct, cuda(out));
    }

    void scatterAdd(Tensor dOut, int[] ids, Tensor dTable) {
        CudaTensor ct = cuda(dTable);
        int width = ct.lastDim();
        checkIds(ids, Math.toIntExact(ct.rows()));
        if (ids.length == 0) return;
        long[] staged = memory.stage(ids);
        launcher.elementwise(Kernel.SCATTER_ADD, (long) ids.length * width, width, staged[0], cuda(dOut), ct);
    }

    private static void checkIds(int[] ids, int vocabulary) {
        for (int id : ids) {
            if (id < 0 || id >= vocabulary)
                throw new IllegalArgumentException("target id " + id + " outside vocabulary of " + vocabulary);
        }
    }
}

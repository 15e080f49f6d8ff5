package plaid.backend.cpu;

import static plaid.backend.cpu.CpuBackend.cpu;
import static plaid.backend.cpu.CpuBackend.parallelFor;
import static plaid.backend.cpu.CpuBackend.requireSameSize;

import plaid.backend.Tensor;

/** The output head's row operations on the CPU (argmax, softmax, cross-entropy and their backward) and the
 * embedding table's gather and scatter-add; ids outside the table are refused. */
final class HeadOps {
    private HeadOps() {}

    static int[] argmaxRows(Tensor t) {
        CpuTensor c = cpu(t);
        int width = c.lastDim(), rows = width == 0 ? 0 : c.size() / width;
        int[] best = new int[rows];
        parallelFor(rows, width, r -> {
            int base = c.offset + r * width, at = 0;
            for (int j = 1; j < width; j++) if (c.data[base + j] > c.data[base + at]) at = j;
            best[r] = at;
        });
        return best;
    }

    static void softmax(Tensor logits, Tensor probs) {
        CpuTensor cl = cpu(logits), cp = cpu(probs);
        requireSameSize(cl, cp, "softmax");
        int v = cl.lastDim(), rows = cl.size() / v;
        parallelFor(rows, v, r -> {
            int lo = cl.offset + r * v, po = cp.offset + r * v;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) max = Math.max(max, cl.data[lo + j]);
            double sum = 0;
            for (int j = 0; j < v; j++) {
                float e = (float) Math.exp(cl.data[lo + j] - max);
                cp.data[po + j] = e;
                sum += e;
            }
            float inv = (float) (1.0 / sum);
            for (int j = 0; j < v; j++) cp.data[po + j] *= inv;
        });
    }

    static double[] crossEntropy(Tensor logits, int[] targets) {
        CpuTensor cl = cpu(logits);
        int v = cl.lastDim(), rows = cl.size() / v;
        if (targets.length != rows)
            throw new IllegalArgumentException("crossEntropy: " + targets.length + " targets for " + rows + " rows");
        double[] loss = new double[rows];
        parallelFor(rows, v, r -> {
            int lo = cl.offset + r * v;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) max = Math.max(max, cl.data[lo + j]);
            double sum = 0;
            for (int j = 0; j < v; j++) sum += Math.exp(cl.data[lo + j] - max);
            loss[r] = max + Math.log(sum) - cl.data[lo + checkTarget(targets[r], v)];
        });
        return loss;
    }

    private static int checkTarget(int target, int vocab) {
        if (target < 0 || target >= vocab)
            throw new IllegalArgumentException("target id " + target + " outside vocabulary of " + vocab);
        return target;
    }

    static void crossEntropyBackward(Tensor probs, int[] targets, float[] rowScale, Tensor dLogits) {
        CpuTensor cp = cpu(probs), cd = cpu(dLogits);
        int v = cp.lastDim(), rows = cp.size() / v;
        int rowsPerScale = rows / rowScale.length;
        parallelFor(rows, v, r -> {
            float s = rowScale[r / rowsPerScale];
            int po = cp.offset + r * v, dofs = cd.offset + r * v;
            for (int j = 0; j < v; j++) cd.data[dofs + j] += s * cp.data[po + j];
            cd.data[dofs + checkTarget(targets[r], v)] -= s;
        });
    }

    static void softmaxBackward(Tensor probs, Tensor dProbs, Tensor dLogits, boolean accumulate) {
        CpuTensor cp = cpu(probs), cg = cpu(dProbs), cd = cpu(dLogits);
        int v = cp.lastDim(), rows = cp.size() / v;
        parallelFor(rows, v, r -> {
            int o = r * v;
            double dot = 0;
            for (int j = 0; j < v; j++) dot += (double) cp.data[cp.offset + o + j] * cg.data[cg.offset + o + j];
            for (int j = 0; j < v; j++) {
                float g = (float) (cp.data[cp.offset + o + j] * (cg.data[cg.offset + o + j] - dot));
                cd.data[cd.offset + o + j] = accumulate ? cd.data[cd.offset + o + j] + g : g;
            }
        });
    }

    static void gather(Tensor table, int[] ids, Tensor out) {
        CpuTensor ct = cpu(table), co = cpu(out);
        int e = ct.lastDim(), vocab = ct.size() / e;
        for (int i = 0; i < ids.length; i++) {
            System.arraycopy(ct.data, ct.offset + checkTarget(ids[i], vocab) * e, co.data, co.offset + i * e, e);
        }
    }

    static void scatterAdd(Tensor dOut, int[] ids, Tensor dTable) {
        CpuTensor cg = cpu(dOut), ct = cpu(dTable);
        int e = ct.lastDim(), vocab = ct.size() / e;
        for (int i = 0; i < ids.length; i++) {
            int to = ct.offset + checkTarget(ids[i], vocab) * e, go = cg.offset + i * e;
            for (int j = 0; j < e; j++) ct.data[to + j] += cg.data[go + j];
        }
    }
}

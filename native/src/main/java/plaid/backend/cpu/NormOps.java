package plaid.backend.cpu;

import static plaid.backend.cpu.CpuBackend.cpu;
import static plaid.backend.cpu.CpuBackend.parallelFor;

import plaid.backend.Tensor;

/** RMSNorm and LayerNorm on the CPU, forward and backward: row statistics and the weight gradient in double. */
final class NormOps {
    private NormOps() {}

    static void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor rstd) {
        CpuTensor cx = cpu(x), cw = cpu(weight), co = cpu(out), cr = cpu(rstd);
        int d = cx.lastDim(), rows = cx.size() / d;
        parallelFor(rows, d, r -> {
            int xo = cx.offset + r * d;
            double ss = 0;
            for (int j = 0; j < d; j++) ss += (double) cx.data[xo + j] * cx.data[xo + j];
            float inv = (float) (1.0 / Math.sqrt(ss / d + eps));
            cr.data[cr.offset + r] = inv;
            int oo = co.offset + r * d;
            for (int j = 0; j < d; j++) co.data[oo + j] = cx.data[xo + j] * inv * cw.data[cw.offset + j];
        });
    }

    static void rmsNormBackward(Tensor dOut, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dWeight) {
        CpuTensor cg = cpu(dOut), cx = cpu(x), cw = cpu(weight), cr = cpu(rstd), cdx = cpu(dx);
        int d = cx.lastDim(), rows = cx.size() / d;
        // y = x·r·w with r = (mean x² + eps)^-½:  dx = r·(g⊙w) − x·r³·mean(g⊙w⊙x)
        parallelFor(rows, d, r -> {
            int o = r * d;
            double inv = cr.data[cr.offset + r];
            double dot = 0;
            for (int j = 0; j < d; j++)
                dot += (double) cg.data[cg.offset + o + j] * cw.data[cw.offset + j] * cx.data[cx.offset + o + j];
            double c = inv * inv * inv * dot / d;
            for (int j = 0; j < d; j++) {
                double gw = (double) cg.data[cg.offset + o + j] * cw.data[cw.offset + j];
                cdx.data[cdx.offset + o + j] = (float) (inv * gw - cx.data[cx.offset + o + j] * c);
            }
        });
        if (dWeight != null) accumulateNormWeightGrad(cg, cx, cr, null, cpu(dWeight), d, rows);
    }

    /** dWeight[j] += Σ_rows dOut·x̂ with x̂ = (x − mean)·rstd (mean absent for RMSNorm). */
    private static void accumulateNormWeightGrad(
            CpuTensor cg, CpuTensor cx, CpuTensor cr, CpuTensor cmean, CpuTensor cdw, int d, int rows) {
        int chunks = Math.min(rows, 4 * Runtime.getRuntime().availableProcessors());
        double[][] partial = new double[chunks][d];
        parallelFor(chunks, (long) rows * d / chunks, c -> {
            double[] acc = partial[c];
            for (int r = (int) ((long) rows * c / chunks); r < (int) ((long) rows * (c + 1) / chunks); r++) {
                double inv = cr.data[cr.offset + r];
                double mu = cmean == null ? 0 : cmean.data[cmean.offset + r];
                int o = r * d;
                for (int j = 0; j < d; j++)
                    acc[j] += cg.data[cg.offset + o + j] * (cx.data[cx.offset + o + j] - mu) * inv;
            }
        });
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (double[] p : partial) s += p[j];
            cdw.data[cdw.offset + j] += (float) s;
        }
    }

    static void layerNorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor mean, Tensor rstd) {
        CpuTensor cx = cpu(x), cw = cpu(weight), co = cpu(out), cm = cpu(mean), cr = cpu(rstd);
        int d = cx.lastDim(), rows = cx.size() / d;
        parallelFor(rows, d, r -> {
            int xo = cx.offset + r * d;
            double mu = 0;
            for (int j = 0; j < d; j++) mu += cx.data[xo + j];
            mu /= d;
            double var = 0;
            for (int j = 0; j < d; j++) {
                double c = cx.data[xo + j] - mu;
                var += c * c;
            }
            double inv = 1.0 / Math.sqrt(var / d + eps);
            cm.data[cm.offset + r] = (float) mu;
            cr.data[cr.offset + r] = (float) inv;
            int oo = co.offset + r * d;
            for (int j = 0; j < d; j++)
                co.data[oo + j] = (float) ((cx.data[xo + j] - mu) * inv) * cw.data[cw.offset + j];
        });
    }

    static void layerNormBackward(
            Tensor dOut, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dx, Tensor dWeight) {
        CpuTensor cg = cpu(dOut), cx = cpu(x), cw = cpu(weight), cm = cpu(mean), cr = cpu(rstd), cdx = cpu(dx);
        int d = cx.lastDim(), rows = cx.size() / d;
        // dx = r·(gw − mean(gw) − x̂·mean(gw⊙x̂)),  gw = dOut⊙w
        parallelFor(rows, d, r -> {
            int o = r * d;
            double inv = cr.data[cr.offset + r], mu = cm.data[cm.offset + r];
            double sumG = 0, sumGX = 0;
            for (int j = 0; j < d; j++) {
                double gw = (double) cg.data[cg.offset + o + j] * cw.data[cw.offset + j];
                sumG += gw;
                sumGX += gw * (cx.data[cx.offset + o + j] - mu) * inv;
            }
            double meanG = sumG / d, meanGX = sumGX / d;
            for (int j = 0; j < d; j++) {
                double gw = (double) cg.data[cg.offset + o + j] * cw.data[cw.offset + j];
                double xh = (cx.data[cx.offset + o + j] - mu) * inv;
                cdx.data[cdx.offset + o + j] = (float) (inv * (gw - meanG - xh * meanGX));
            }
        });
        if (dWeight != null) accumulateNormWeightGrad(cg, cx, cr, cm, cpu(dWeight), d, rows);
    }
}

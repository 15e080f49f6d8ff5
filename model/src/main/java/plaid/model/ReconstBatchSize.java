package plaid.model;

/**
 * How many rows of a step compute the reconstruction term: chosen from running estimates of
 * both terms' spread so the loss estimate's variance is small (train.py's reconst_bs).
 */
public final class ReconstBatchSize {
    private final double decay;
    private double bias = 1e-8;
    private double reconstMean = 1e-8;
    private double reconstSq = 1e-8;
    private double diffusionMean = 1e-8;
    private double diffusionSq = 1e-8;

    public ReconstBatchSize(double decay) {
        this.decay = decay;
    }

    /** R for a step over {@code batchSize} rows (all micro-batches together). */
    public int forBatch(int batchSize) {
        double b = 1 / bias; // bias correction of the EMAs
        double reconstStd = Math.sqrt(Math.max(0, b * reconstSq - (b * reconstMean) * (b * reconstMean)));
        double diffusionStd = Math.sqrt(Math.max(0, b * diffusionSq - (b * diffusionMean) * (b * diffusionMean)));
        double r = batchSize * (reconstStd / (1e-8 + reconstStd + diffusionStd));
        return (int) Math.max(1, Math.min(batchSize - 1, Math.rint(r)));
    }

    /** Folds one micro-batch's terms into the running estimates. */
    public void update(DiffusionObjective.Result result, double reconstWeight, double avgReconstBs, int rows) {
        double w = 1 - decay;
        bias += w * (1 - bias);
        double rSum = 0, rSq = 0;
        for (double v : result.reconst()) {
            rSum += reconstWeight * v;
            rSq += (reconstWeight * v) * (reconstWeight * v);
        }
        double dSum = 0, dSq = 0;
        for (int i = result.reconstBs(); i < rows; i++) {
            dSum += result.diffusion()[i];
            dSq += result.diffusion()[i] * result.diffusion()[i];
        }
        reconstMean += w * (rSum / avgReconstBs - reconstMean);
        reconstSq += w * (rSq / avgReconstBs - reconstSq);
        diffusionMean += w * (dSum / (rows - avgReconstBs) - diffusionMean);
        diffusionSq += w * (dSq / (rows - avgReconstBs) - diffusionSq);
    }

    public double[] state() {
        return new double[] {bias, reconstMean, reconstSq, diffusionMean, diffusionSq};
    }

    public void restore(double[] s) {
        bias = s[0];
        reconstMean = s[1];
        reconstSq = s[2];
        diffusionMean = s[3];
        diffusionSq = s[4];
    }
}

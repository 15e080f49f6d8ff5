package plaid.model.sampling;

import plaid.model.NoiseSchedule;

/**
 * sample.py's update of one trajectory's float64 latent from t to s = t − 1/T, given the model's x̂ (and
 * guidance's ∇_z G): VDM eq. 33 (ancestral) or DDIM, the operations in the original's order. Stateless
 * apart from the schedule, so trajectories update concurrently.
 */
final class StepUpdate {
    private final NoiseSchedule schedule;
    private final double gamma0, gamma1;

    StepUpdate(NoiseSchedule schedule, double gamma0, double gamma1) {
        this.schedule = schedule;
        this.gamma0 = gamma0;
        this.gamma1 = gamma1;
    }

    double gamma(double t) {
        return gamma0 + (gamma1 - gamma0) * schedule.gammaTilde(t);
    }

    /** Moves {@code traj}'s z, reading its rows' x̂ (and gradient, if guided) at {@code offset} in the lane's. */
    void apply(Trajectory traj, float[] xModel, float[] guidanceGrad, int offset) {
        SamplingRequest request = traj.request;
        double t = traj.t(), s = traj.s();
        double gammaS = gamma(s), gammaT = gamma(t);
        double alphaSquaredS = sigmoid(-gammaS), alphaS = Math.sqrt(alphaSquaredS), sigmaS = Math.sqrt(sigmoid(gammaS));
        double alphaT = Math.sqrt(sigmoid(-gammaT)), sigmaSquaredT = sigmoid(gammaT), sigmaT = Math.sqrt(sigmaSquaredT);
        boolean move = t > 0;
        boolean ancestral = request.update() == SamplingRequest.Update.ANCESTRAL;
        double c = -Math.expm1(gammaS - gammaT);
        double keep = (1 - c) * alphaS / alphaT, noiseStd = Math.sqrt(c * (1 - alphaSquaredS));
        double[] z = traj.z, stepNoise = traj.stepNoise;
        for (int k = 0; k < z.length; k++) {
            // ε̂ from x̂, tempered, and x̂ recomputed from it (the operations in sample.py's order)
            double x = xModel[offset + k];
            double eps = (z[k] - alphaT * x) / sigmaT / request.scoreTemp();
            x = (z[k] - sigmaT * eps) / alphaT;
            if (guidanceGrad != null) {
                x += guidanceGrad[offset + k] * sigmaSquaredT / alphaT;
                eps = (z[k] - alphaT * x) / sigmaT;
            }
            if (!move) continue;
            if (ancestral) {
                double zk = z[k] * keep;
                zk += c * (alphaS * x);
                z[k] = zk + noiseStd * stepNoise[k];
            } else {
                z[k] = alphaS * x + sigmaS * eps;
            }
        }
    }

    private static double sigmoid(double x) {
        return 1.0 / (1.0 + Math.exp(-x));
    }
}

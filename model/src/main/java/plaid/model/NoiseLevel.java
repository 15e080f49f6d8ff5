package plaid.model;

/**
 * The per-row scalars of γ (plaid-reference §2 step 1): α² = s(−γ), σ² = s(γ). The double forms are
 * the backward's; the float forms are what the model's forward computes (torch.sigmoid on a float32
 * γ, in float32), which the parity fixtures match bit for bit.
 */
public final class NoiseLevel {
    private NoiseLevel() {}

    public static double alphaSquared(double gamma) {
        return NoiseSchedule.sigmoid(-gamma);
    }

    public static double sigmaSquared(double gamma) {
        return NoiseSchedule.sigmoid(gamma);
    }

    /** α² as the forward computes it. */
    public static float alphaSquaredFloat(double gamma) {
        return (float) NoiseSchedule.sigmoid(-(double) (float) gamma);
    }

    /** σ² as the forward computes it. */
    public static float sigmaSquaredFloat(double gamma) {
        return (float) NoiseSchedule.sigmoid((double) (float) gamma);
    }
}

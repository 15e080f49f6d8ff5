package plaid.model;

/**
 * The learned monotone noise schedule γ̃(t) ∈ [0,1] and its derivative, in float64 as the
 * original computes them (plaid-reference §1), with gradients through both.
 *
 * <p>g(t) = Σ_j W2⁺_j tanh(W1⁺_j (t − ½) + b1_j) with W1⁺ = softplus(W1),
 * W2⁺ = 0.01·softplus(W2); γ̃(t) = (g(t) − g(0)) / (g(1) − g(0)).
 */
public final class NoiseSchedule {
    private final double[] w1Pos;
    private final double[] b1;
    private final double[] w2Pos;
    private final double[] w1Raw;
    private final double[] w2Raw;
    private final double g0;
    private final double g1;

    /** From the module's float32 parameters W1 [1024,1], b1 [1024], W2 [1,1024]. */
    public NoiseSchedule(float[] w1, float[] b1, float[] w2) {
        int n = b1.length;
        if (w1.length != n || w2.length != n)
            throw new IllegalArgumentException(
                    "noise schedule widths differ: " + w1.length + ", " + n + ", " + w2.length);
        this.w1Raw = new double[n];
        this.w2Raw = new double[n];
        this.w1Pos = new double[n];
        this.w2Pos = new double[n];
        this.b1 = new double[n];
        for (int j = 0; j < n; j++) {
            w1Raw[j] = w1[j];
            w2Raw[j] = w2[j];
            w1Pos[j] = softplus(w1[j]);
            w2Pos[j] = 0.01 * softplus(w2[j]);
            this.b1[j] = b1[j];
        }
        this.g0 = g(0.0);
        this.g1 = g(1.0);
    }

    /** torch's softplus (β 1, threshold 20). */
    static double softplus(double x) {
        return x > 20 ? x : Math.log1p(Math.exp(x));
    }

    static double sigmoid(double x) {
        return 1.0 / (1.0 + Math.exp(-x));
    }

    private double g(double t) {
        double s = 0;
        for (int j = 0; j < b1.length; j++) s += w2Pos[j] * Math.tanh(w1Pos[j] * (t - 0.5) + b1[j]);
        return s;
    }

    /** γ̃(t), normalised to [0, 1]. */
    public double gammaTilde(double t) {
        return (g(t) - g0) / (g1 - g0);
    }

    /** dγ̃/dt. */
    public double gammaTildePrime(double t) {
        double s = 0;
        for (int j = 0; j < b1.length; j++) {
            double h = Math.tanh(w1Pos[j] * (t - 0.5) + b1[j]);
            s += w2Pos[j] * (1 - h * h) * w1Pos[j];
        }
        return s / (g1 - g0);
    }

    /** Gradients of the schedule's raw parameters, in float64, to be added to W1, b1, W2. */
    public record Gradient(double[] w1, double[] b1, double[] w2) {}

    /**
     * Backpropagates upstream gradients {@code dGammaTilde[i]} and {@code dGammaTildePrime[i]}
     * at times {@code t[i]} into the raw parameters.
     */
    public Gradient backward(double[] t, double[] dGammaTilde, double[] dGammaTildePrime) {
        int n = b1.length;
        // ∂γ̃/∂θ = [∂g_t − (1−γ̃)∂g_0 − γ̃ ∂g_1]/Δ;  ∂γ̃'/∂θ = [∂g'_t − γ̃'(∂g_1 − ∂g_0)]/Δ
        double delta = g1 - g0;
        double coefG0 = 0, coefG1 = 0;
        double[] dW1Pos = new double[n], dB1 = new double[n], dW2Pos = new double[n];
        for (int i = 0; i < t.length; i++) {
            double gt = gammaTilde(t[i]), gtp = gammaTildePrime(t[i]);
            double up = dGammaTilde[i] / delta, upPrime = dGammaTildePrime[i] / delta;
            coefG0 += -(1 - gt) * up + gtp * upPrime;
            coefG1 += -gt * up - gtp * upPrime;
            double u = t[i] - 0.5;
            for (int j = 0; j < n; j++) {
                double h = Math.tanh(w1Pos[j] * u + b1[j]);
                double sech2 = 1 - h * h;
                // g(t) terms
                dW2Pos[j] += up * h;
                dB1[j] += up * w2Pos[j] * sech2;
                dW1Pos[j] += up * w2Pos[j] * sech2 * u;
                // g'(t) = Σ W2⁺ sech² W1⁺ terms; d sech²/dx = −2 h sech²
                double dSech2 = -2 * h * sech2;
                dW2Pos[j] += upPrime * sech2 * w1Pos[j];
                dB1[j] += upPrime * w2Pos[j] * w1Pos[j] * dSech2;
                dW1Pos[j] += upPrime * w2Pos[j] * (sech2 + w1Pos[j] * dSech2 * u);
            }
        }
        addPointGradient(0.0, coefG0, dW1Pos, dB1, dW2Pos);
        addPointGradient(1.0, coefG1, dW1Pos, dB1, dW2Pos);
        double[] dW1 = new double[n], dW2 = new double[n];
        for (int j = 0; j < n; j++) {
            dW1[j] = dW1Pos[j] * sigmoid(w1Raw[j]);
            dW2[j] = dW2Pos[j] * 0.01 * sigmoid(w2Raw[j]);
        }
        return new Gradient(dW1, dB1, dW2);
    }

    /** Adds coef · ∂g(t)/∂θ. */
    private void addPointGradient(double t, double coef, double[] dW1Pos, double[] dB1, double[] dW2Pos) {
        double u = t - 0.5;
        for (int j = 0; j < b1.length; j++) {
            double h = Math.tanh(w1Pos[j] * u + b1[j]);
            double sech2 = 1 - h * h;
            dW2Pos[j] += coef * h;
            dB1[j] += coef * w2Pos[j] * sech2;
            dW1Pos[j] += coef * w2Pos[j] * sech2 * u;
        }
    }
}

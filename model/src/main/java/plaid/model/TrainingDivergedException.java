package plaid.model;

/**
 * Training produced a non-finite value (NaN or ±∞): a loss term, the gradient norm, a weight or
 * the validation NLL. Thrown before the step's update is applied, so the weights are still
 * those of the step before and nothing NaN reaches a checkpoint.
 */
public final class TrainingDivergedException extends ArithmeticException {
    private final int step;
    private final String term;
    private final double value;

    /**
     * @param step the 0-based optimiser step (for the validation NLL, the steps done)
     * @param term what went non-finite, as train.py names it (loss, nll, reconst, prior, grad_norm, …)
     */
    public TrainingDivergedException(int step, String term, double value) {
        super("training diverged at step %d: %s is %s".formatted(step, term, value));
        this.step = step;
        this.term = term;
        this.value = value;
    }

    public int step() {
        return step;
    }

    public String term() {
        return term;
    }

    public double value() {
        return value;
    }

    /** Throws when {@code value} is NaN or infinite. */
    static void requireFinite(int step, String term, double value) {
        if (!Double.isFinite(value)) throw new TrainingDivergedException(step, term, value);
    }
}

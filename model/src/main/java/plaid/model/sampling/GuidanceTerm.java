package plaid.model.sampling;

import java.util.Objects;

/**
 * One term of the guidance objective G = Σ_k w_k · log p_k (sample.py's
 * {@code (token, weight, position, complement)}): the log-probability of {@code token}
 * at one position, anywhere in the sequence, or at every position; with
 * {@code complement}, log(1 − p) instead, which steers away from the token.
 */
public record GuidanceTerm(int token, double weight, Position position, boolean complement) {

    /** Where the term looks at the token. */
    public sealed interface Position permits At, Anywhere, Everywhere {}

    /** log p(token) at one sequence index. */
    public record At(int index) implements Position {}

    /** The original's 'any': logsumexp over positions of log p(token), minus S. */
    public record Anywhere() implements Position {}

    /** The original's 'all': Σ over positions of log p(token). */
    public record Everywhere() implements Position {}

    public GuidanceTerm {
        Objects.requireNonNull(position, "position");
    }

    public static GuidanceTerm at(int token, double weight, int index) {
        return new GuidanceTerm(token, weight, new At(index), false);
    }

    public static GuidanceTerm anywhere(int token, double weight) {
        return new GuidanceTerm(token, weight, new Anywhere(), false);
    }

    public static GuidanceTerm everywhere(int token, double weight) {
        return new GuidanceTerm(token, weight, new Everywhere(), false);
    }

    /** The same term on log(1 − p). */
    public GuidanceTerm complemented() {
        return new GuidanceTerm(token, weight, position, true);
    }
}

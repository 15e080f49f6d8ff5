package plaid.model.sampling;

import java.util.ArrayList;
import java.util.List;

/**
 * The original's guidance demos as token-id level builders (no tokenizer here: callers
 * encode text first). Lists combine by concatenation, e.g. {@code containing} one token
 * plus {@code excluding} another is sample.py's negation demo.
 */
public final class Guidance {
    private Guidance() {}

    /** Prefix completion: {@code tokens[i]} at position i. */
    public static List<GuidanceTerm> prefix(int[] tokens, double weight) {
        return startingAt(0, tokens, weight);
    }

    /**
     * Infilling: the prefix at position 0 and the suffix starting {@code gap} positions
     * after the prefix ends (sample.py uses a gap of 40).
     */
    public static List<GuidanceTerm> infill(int[] prefix, int[] suffix, int gap, double weight) {
        if (gap < 0) throw new IllegalArgumentException("gap must not be negative, got " + gap);
        List<GuidanceTerm> terms = new ArrayList<>(startingAt(0, prefix, weight));
        terms.addAll(startingAt(prefix.length + gap, suffix, weight));
        return List.copyOf(terms);
    }

    /** Word-level weights: {@code tokens[i]} at position i with its own weight {@code weights[i]}. */
    public static List<GuidanceTerm> weighted(int[] tokens, double[] weights) {
        if (weights.length != tokens.length) {
            throw new IllegalArgumentException(
                    "weights: " + weights.length + " weights for " + tokens.length + " tokens");
        }
        List<GuidanceTerm> terms = new ArrayList<>(tokens.length);
        for (int i = 0; i < tokens.length; i++) terms.add(GuidanceTerm.at(tokens[i], weights[i], i));
        return List.copyOf(terms);
    }

    /** Lexical constraint: the token somewhere in the sequence ('any'). */
    public static List<GuidanceTerm> containing(int token, double weight) {
        return List.of(GuidanceTerm.anywhere(token, weight));
    }

    /** Negation: log(1 − p(token)) at every position ('all' with complement). */
    public static List<GuidanceTerm> excluding(int token, double weight) {
        return List.of(GuidanceTerm.everywhere(token, weight).complemented());
    }

    private static List<GuidanceTerm> startingAt(int offset, int[] tokens, double weight) {
        List<GuidanceTerm> terms = new ArrayList<>(tokens.length);
        for (int i = 0; i < tokens.length; i++) terms.add(GuidanceTerm.at(tokens[i], weight, offset + i));
        return terms;
    }
}

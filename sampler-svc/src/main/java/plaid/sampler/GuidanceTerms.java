package plaid.sampler;

import java.util.ArrayList;
import java.util.List;
import plaid.model.sampling.Guidance;
import plaid.model.sampling.GuidanceTerm;
import plaid.service.InvalidArgument;
import plaid.v1.Infill;
import plaid.v1.Negation;
import plaid.v1.Prefix;
import plaid.v1.TextOrTokens;

/**
 * A request's guidance as the sampler's terms: explicit terms, then the prefix, infill and
 * negation demos expanded as sample.py does, all summed. Every check names the field.
 */
final class GuidanceTerms {
    private GuidanceTerms() {}

    static List<GuidanceTerm> of(plaid.v1.Guidance guidance, LoadedModel model, int seqLen) {
        List<GuidanceTerm> terms = new ArrayList<>();
        for (int i = 0; i < guidance.getTermsCount(); i++)
            terms.addAll(explicit(guidance.getTerms(i), "guidance.terms[" + i + "]", model, seqLen));
        if (guidance.hasPrefix()) terms.addAll(prefix(guidance.getPrefix(), model, seqLen));
        if (guidance.hasInfill()) terms.addAll(infill(guidance.getInfill(), model, seqLen));
        for (int i = 0; i < guidance.getNegationsCount(); i++)
            terms.addAll(negation(guidance.getNegations(i), "guidance.negations[" + i + "]", model));
        return terms;
    }

    /** A text of k tokens at position i covers i .. i+k-1; with any/all each token is a term of its own. */
    private static List<GuidanceTerm> explicit(
            plaid.v1.GuidanceTerm term, String field, LoadedModel model, int seqLen) {
        int[] tokens = nonEmptyTokens(term.getTarget(), field + ".target", model);
        double weight = finiteWeight(term.getWeight(), field + ".weight");
        List<GuidanceTerm> terms = new ArrayList<>(tokens.length);
        switch (term.getPositionCase()) {
            case AT -> {
                int at = term.getAt();
                InvalidArgument.require(
                        at >= 0 && at + tokens.length <= seqLen,
                        field + ".at",
                        "puts " + tokens.length + " tokens at " + at + ", outside the sequence [0, " + seqLen + ")");
                for (int k = 0; k < tokens.length; k++) terms.add(GuidanceTerm.at(tokens[k], weight, at + k));
            }
            case ANY -> {
                for (int token : tokens) terms.add(GuidanceTerm.anywhere(token, weight));
            }
            case ALL -> {
                for (int token : tokens) terms.add(GuidanceTerm.everywhere(token, weight));
            }
            case POSITION_NOT_SET -> throw InvalidArgument.of(field + ".position", "must be set: at, any or all");
        }
        return term.getComplement()
                ? terms.stream().map(GuidanceTerm::complemented).toList()
                : terms;
    }

    private static List<GuidanceTerm> prefix(Prefix prefix, LoadedModel model, int seqLen) {
        int[] tokens = nonEmptyTokens(prefix.getText(), "guidance.prefix.text", model);
        InvalidArgument.require(
                tokens.length <= seqLen,
                "guidance.prefix.text",
                "has " + tokens.length + " tokens, more than seq_len " + seqLen);
        return Guidance.prefix(tokens, finiteWeight(prefix.getWeight(), "guidance.prefix.weight"));
    }

    private static List<GuidanceTerm> infill(Infill infill, LoadedModel model, int seqLen) {
        int[] prefix = model.tokens(infill.getPrefix(), "guidance.infill.prefix");
        int[] suffix = nonEmptyTokens(infill.getSuffix(), "guidance.infill.suffix", model);
        InvalidArgument.require(
                infill.getSuffixOffset() >= 0,
                "guidance.infill.suffix_offset",
                "must not be negative, got " + infill.getSuffixOffset());
        long length = (long) prefix.length + infill.getSuffixOffset() + suffix.length;
        InvalidArgument.require(
                length <= seqLen,
                "guidance.infill.suffix_offset",
                "makes the prefix (" + prefix.length + " tokens), the gap (" + infill.getSuffixOffset()
                        + ") and the suffix (" + suffix.length + " tokens) " + length + " positions, more than seq_len "
                        + seqLen);
        return Guidance.infill(
                prefix, suffix, infill.getSuffixOffset(), finiteWeight(infill.getWeight(), "guidance.infill.weight"));
    }

    private static List<GuidanceTerm> negation(Negation negation, String field, LoadedModel model) {
        double weight = finiteWeight(negation.getWeight(), field + ".weight");
        List<GuidanceTerm> terms = new ArrayList<>();
        for (int token : nonEmptyTokens(negation.getText(), field + ".text", model))
            terms.addAll(Guidance.excluding(token, weight));
        return terms;
    }

    private static int[] nonEmptyTokens(TextOrTokens value, String field, LoadedModel model) {
        int[] tokens = model.tokens(value, field);
        InvalidArgument.require(tokens.length > 0, field, "must give at least one token");
        return tokens;
    }

    private static double finiteWeight(double weight, String field) {
        InvalidArgument.require(Double.isFinite(weight), field, "must be finite, got " + weight);
        return weight;
    }
}

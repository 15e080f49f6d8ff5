package plaid.options.bow;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The fork's {@code --diffusion_mode}: mode words joined by underscores, e.g.
 * {@code BoW_embedding_reconst_first_no_rescale_diff_lm_norms} (plaid-reference §7).
 *
 * <p>The fork never splits the string: its model tests each word as a substring
 * ({@code "reconst_first" in diffusion_mode}), so the order of the words does not matter
 * and the words themselves contain underscores. We parse it into whole words instead, so
 * a misspelt word is refused by name rather than silently meaning nothing, and we refuse
 * the combinations the fork's model code cannot run or ignores (see {@link #parse}).
 */
public final class DiffusionMode {
    /** One mode word, with the fork's spelling. */
    public enum Word {
        /** Plain Plaid: diffusion on the token embeddings. Stands alone. */
        TOKEN("token"),
        /** Diffusion on bow(x_embed); the token-mode head's x̂ is converted with bow. */
        BOW_EMBEDDING("BoW_embedding"),
        /** The head predicts bow-space x̂ directly; logits come from its inverse transform. */
        RECONST_FIRST("reconst_first"),
        /** The bow-space x̂ head leaves out the zb skip term. */
        PRED_X0("pred_x0"),
        /** reconst_first's logits are negative Euclidean distances instead of dot products. */
        DIFF_LM_NORMS("diff_lm_norms"),
        /** Two heads with separate output norms: direct logits and a bow-space x̂ head. */
        DOUBLE_LOGIT_REG("double_logit_reg"),
        /** double_logit_reg's direct logits are the primary ones (else those from x̂). */
        LOGITS_DIRECT_PRIMARY("logits_direct_primary"),
        /** double_logit_reg's direct logits take zb as it is, without the inverse transform. */
        DIRECT_BOW_X_TO_LOGITS("direct_bow_x_to_logits"),
        /** bow is not scaled by 1 − ρ ({@link BowTransform#forMode}; our reading, the fork's train.py is not public). */
        NO_RESCALE("no_rescale"),
        /**
         * The bow-space x̂ head's token-space vectors are normalised to unit length, like Ê's rows, before they
         * give logits or are returned ("the norm on the x_reconst" of the seed; our reading, see {@link ReturnedEmbeddingNorm}).
         */
        NORM_RET_EMBEDDINGS("norm_ret_embeddings");

        private final String spelling;
        private final List<String> pieces;

        Word(String spelling) {
            this.spelling = spelling;
            this.pieces = List.of(spelling.split("_"));
        }

        public String spelling() {
            return spelling;
        }
    }

    /** A word that only means something next to one of {@code anyOf}. */
    private record Requirement(Word word, Set<Word> anyOf, String why) {}

    private static final String NEEDS_GAMMA =
            "its logits invert the bow transform, which needs BoW_cumsum_gamma, and the fork only requires that in BoW modes";

    private static final List<Requirement> REQUIREMENTS = List.of(
            new Requirement(Word.RECONST_FIRST, EnumSet.of(Word.BOW_EMBEDDING), NEEDS_GAMMA),
            new Requirement(Word.DOUBLE_LOGIT_REG, EnumSet.of(Word.BOW_EMBEDDING), NEEDS_GAMMA),
            new Requirement(
                    Word.PRED_X0,
                    EnumSet.of(Word.RECONST_FIRST, Word.DOUBLE_LOGIT_REG),
                    "it drops zb from the bow-space x̂ head, which only those modes build"),
            new Requirement(
                    Word.DIFF_LM_NORMS,
                    EnumSet.of(Word.RECONST_FIRST),
                    "it replaces reconst_first's dot-product logits; the fork reads it nowhere else"),
            new Requirement(
                    Word.LOGITS_DIRECT_PRIMARY,
                    EnumSet.of(Word.DOUBLE_LOGIT_REG),
                    "it picks between double_logit_reg's two logit heads"),
            new Requirement(
                    Word.DIRECT_BOW_X_TO_LOGITS,
                    EnumSet.of(Word.DOUBLE_LOGIT_REG),
                    "it changes the zb term of double_logit_reg's direct logits"),
            new Requirement(
                    Word.NO_RESCALE, EnumSet.of(Word.BOW_EMBEDDING), "it changes the scale of the bow transform"),
            new Requirement(
                    Word.NORM_RET_EMBEDDINGS,
                    EnumSet.of(Word.RECONST_FIRST, Word.DOUBLE_LOGIT_REG),
                    "it normalises the vectors of the bow-space x̂ head, which only those modes build"));

    public static final DiffusionMode TOKEN = parse(Word.TOKEN.spelling);

    private final List<Word> words;
    private final Set<Word> wordSet;

    private DiffusionMode(List<Word> words) {
        this.words = List.copyOf(words);
        this.wordSet = Collections.unmodifiableSet(EnumSet.copyOf(words));
    }

    /**
     * Parses the fork's string form. Refused, with the valid words listed: an unknown or
     * empty word, a word given twice, {@code token} next to anything, a word missing the
     * word it modifies (pred_x0, diff_lm_norms, logits_direct_primary, direct_bow_x_to_logits,
     * norm_ret_embeddings; reconst_first, double_logit_reg and no_rescale need BoW_embedding), and
     * reconst_first with double_logit_reg (the fork's constructor builds reconst_first's
     * head while its forward runs double_logit_reg's, reading parameters never built).
     */
    public static DiffusionMode parse(String mode) {
        if (mode == null) throw refusal(null, "no mode given");
        List<String> pieces = Arrays.asList(mode.split("_", -1));
        List<Word> words = new ArrayList<>();
        int at = 0;
        while (at < pieces.size()) {
            Word word = wordAt(pieces, at);
            if (word == null) {
                int end = at + 1;
                while (end < pieces.size() && wordAt(pieces, end) == null) end++;
                String unknown = String.join("_", pieces.subList(at, end));
                throw refusal(
                        mode, unknown.isEmpty() ? "empty word (a stray underscore)" : "unknown word '" + unknown + "'");
            }
            if (words.contains(word)) throw refusal(mode, "'" + word.spelling + "' given twice");
            words.add(word);
            at += word.pieces.size();
        }
        checkCombination(mode, words);
        return new DiffusionMode(words);
    }

    /** The word whose pieces start at {@code at}; no word's pieces are a prefix of another's. */
    private static Word wordAt(List<String> pieces, int at) {
        for (Word w : Word.values()) {
            int end = at + w.pieces.size();
            if (end <= pieces.size() && pieces.subList(at, end).equals(w.pieces)) return w;
        }
        return null;
    }

    private static void checkCombination(String mode, List<Word> words) {
        if (words.contains(Word.TOKEN) && words.size() > 1) {
            throw refusal(mode, "'token' is the plain mode and combines with no other word");
        }
        for (Requirement r : REQUIREMENTS) {
            if (words.contains(r.word) && r.anyOf.stream().noneMatch(words::contains)) {
                String needed = r.anyOf.stream().map(Word::spelling).collect(Collectors.joining(" or "));
                throw refusal(mode, "'" + r.word.spelling + "' needs " + needed + ": " + r.why);
            }
        }
        if (words.contains(Word.RECONST_FIRST) && words.contains(Word.DOUBLE_LOGIT_REG)) {
            throw refusal(
                    mode,
                    "'reconst_first' and 'double_logit_reg' exclude each other: the fork builds"
                            + " reconst_first's head but runs double_logit_reg's forward, which reads parameters never built");
        }
    }

    private static IllegalArgumentException refusal(String mode, String problem) {
        String valid = Arrays.stream(Word.values()).map(Word::spelling).collect(Collectors.joining(", "));
        return new IllegalArgumentException("diffusion_mode " + (mode == null ? "" : "'" + mode + "' ") + "refused: "
                + problem + ". Valid words, joined by '_' in any order: " + valid);
    }

    public boolean contains(Word word) {
        return wordSet.contains(word);
    }

    /** The words in the order written. */
    public List<Word> words() {
        return words;
    }

    /** Whether diffusion runs on bow(x_embed) rather than on x_embed. */
    public boolean inBowSpace() {
        return contains(Word.BOW_EMBEDDING);
    }

    /**
     * Whether the head's x̂ is token-space (softmax·Ê) and is converted with bow before it meets
     * z: BoW_embedding with Plaid's head; reconst_first's and double_logit_reg's heads predict the
     * bow-space x̂ themselves.
     */
    public boolean convertsReconstToBow() {
        return inBowSpace() && !contains(Word.RECONST_FIRST) && !contains(Word.DOUBLE_LOGIT_REG);
    }

    /** Same words in any order: the fork's substring tests cannot tell the orders apart. */
    @Override
    public boolean equals(Object o) {
        return o instanceof DiffusionMode m && wordSet.equals(m.wordSet);
    }

    @Override
    public int hashCode() {
        return wordSet.hashCode();
    }

    /** The fork's string form, words in the order written. */
    @Override
    public String toString() {
        return words.stream().map(Word::spelling).collect(Collectors.joining("_"));
    }
}

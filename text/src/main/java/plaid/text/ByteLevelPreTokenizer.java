package plaid.text;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Hugging Face {@code ByteLevel} pre-tokenizer: optionally a leading space, then the
 * GPT-2 split into words, numbers, punctuation runs and whitespace.
 *
 * @param addPrefixSpace prepend a space to text that does not start with one, so the first
 *                       word is encoded like any later word
 * @param useRegex       split with the GPT-2 pattern; when false the whole text is one piece
 */
record ByteLevelPreTokenizer(boolean addPrefixSpace, boolean useRegex) {
    /**
     * GPT-2's pattern as Hugging Face runs it through Oniguruma, where {@code \s} is the
     * Unicode White_Space property; {@code (?U)} gives Java's {@code \s} the same meaning.
     * The lookahead makes a whitespace run leave its last space to the following word.
     */
    private static final Pattern GPT2_SPLIT =
            Pattern.compile("(?U)'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    List<String> split(String text) {
        List<String> pieces = new ArrayList<>();
        forEachPiece(text, pieces::add);
        return pieces;
    }

    /**
     * Gives the pieces in order to {@code sink} as they are found, until it answers false;
     * returns whether every piece was given. Nothing is held but the current piece.
     */
    boolean forEachPiece(String text, Predicate<String> sink) {
        if (text.isEmpty()) return true;
        String prepared = addPrefixSpace && !text.startsWith(" ") ? " " + text : text;
        if (!useRegex) return sink.test(prepared);
        Matcher matcher = GPT2_SPLIT.matcher(prepared);
        int end = 0;
        while (matcher.find()) {
            // Hugging Face keeps unmatched gaps as pieces of their own (its "Isolated" split).
            if (matcher.start() > end && !sink.test(prepared.substring(end, matcher.start()))) return false;
            if (!sink.test(matcher.group())) return false;
            end = matcher.end();
        }
        return end >= prepared.length() || sink.test(prepared.substring(end));
    }
}

package plaid.text;

import java.util.ArrayList;
import java.util.List;
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
    private static final Pattern GPT2_SPLIT = Pattern.compile(
            "(?U)'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    List<String> split(String text) {
        if (text.isEmpty()) return List.of();
        String prepared = addPrefixSpace && !text.startsWith(" ") ? " " + text : text;
        if (!useRegex) return List.of(prepared);
        List<String> pieces = new ArrayList<>();
        Matcher matcher = GPT2_SPLIT.matcher(prepared);
        int end = 0;
        while (matcher.find()) {
            // Hugging Face keeps unmatched gaps as pieces of their own (its "Isolated" split).
            if (matcher.start() > end) pieces.add(prepared.substring(end, matcher.start()));
            pieces.add(matcher.group());
            end = matcher.end();
        }
        if (end < prepared.length()) pieces.add(prepared.substring(end));
        return pieces;
    }
}

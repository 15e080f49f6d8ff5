package plaid.text;

import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Cuts raw text at added tokens, leftmost match first and the longest token at a given
 * position, as Hugging Face does before any pre-tokenization.
 */
final class AddedTokenSplitter {
    /** One piece of the input: either an added token or ordinary text to pre-tokenize. */
    sealed interface Segment {}

    record Text(String text) implements Segment {}

    record Token(AddedToken token) implements Segment {}

    private final Map<String, AddedToken> byContent = new HashMap<>();
    private final Pattern anyToken;

    AddedTokenSplitter(List<AddedToken> tokens) {
        for (AddedToken token : tokens) byContent.put(token.content(), token);
        // Alternatives are tried in order, so longest first gives leftmost-longest matching.
        anyToken = tokens.isEmpty()
                ? null
                : Pattern.compile(tokens.stream()
                        .map(AddedToken::content)
                        .distinct()
                        .sorted(Comparator.comparingInt(String::length).reversed())
                        .map(Pattern::quote)
                        .collect(Collectors.joining("|")));
    }

    /** Gives the segments in order to {@code sink} until it answers false; returns whether every segment was given. */
    boolean split(String text, Predicate<Segment> sink) {
        if (anyToken == null) return text.isEmpty() || sink.test(new Text(text));
        Matcher matcher = anyToken.matcher(text);
        int textStart = 0;
        while (matcher.find()) {
            AddedToken token = byContent.get(matcher.group());
            int textEnd = matcher.start();
            if (token.lstrip()) while (textEnd > textStart && Whitespace.isUnicode(text.charAt(textEnd - 1))) textEnd--;
            if (textEnd > textStart && !sink.test(new Text(text.substring(textStart, textEnd)))) return false;
            if (!sink.test(new Token(token))) return false;
            textStart = matcher.end();
            if (token.rstrip()) {
                while (textStart < text.length() && Whitespace.isUnicode(text.charAt(textStart))) textStart++;
                matcher.region(textStart, text.length());
            }
        }
        return textStart >= text.length() || sink.test(new Text(text.substring(textStart)));
    }
}

package plaid.text;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.function.ToLongFunction;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * The zero-shot evaluation sets and the original's heuristics that turn their tokenized
 * raw files back into natural text ({@code lib/datasets.py}). Each set also fixes how the
 * raw file is trimmed and what the perplexity denominator counts, exactly as the
 * original does it in Python, so words-per-token figures are comparable.
 *
 * <p>Python semantics are kept where they matter: files are read as UTF-8 with universal
 * newlines, slices count code points, {@code \s} and {@code split()} use Python's notion
 * of whitespace, and {@code \w} is taken as letters, numbers and underscore.
 */
public enum ZeroShotDataset {
    /** Penn Treebank: the trailing newline is dropped; words = fields between single spaces. */
    PTB(
            CountUnit.WORDS,
            ZeroShotDataset::dropLastCodePoint,
            ZeroShotDataset::countSingleSpaceFields,
            ZeroShotDataset::detokenizePtb,
            "ptb.%s.txt"),
    /** WikiText-2: the initial space is dropped; the Megatron detokenizer; words = fields between single spaces. */
    WIKITEXT2(
            CountUnit.WORDS,
            ZeroShotDataset::dropFirstCodePoint,
            ZeroShotDataset::countSingleSpaceFields,
            ZeroShotDataset::detokenizeWikiText,
            "wikitext2.%s.tokens"),
    /** WikiText-103: as {@link #WIKITEXT2}. */
    WIKITEXT103(
            CountUnit.WORDS,
            ZeroShotDataset::dropFirstCodePoint,
            ZeroShotDataset::countSingleSpaceFields,
            ZeroShotDataset::detokenizeWikiText,
            "wikitext103.%s.tokens"),
    /** enwik8: the last 5,000,000 characters, unchanged; the count is characters. It has no splits. */
    ENWIK8(
            CountUnit.CHARACTERS,
            ZeroShotDataset::lastCharacterSet,
            ZeroShotDataset::countCodePoints,
            UnaryOperator.identity(),
            "enwik8"),
    /** text8: as {@link #ENWIK8}. */
    TEXT8(
            CountUnit.CHARACTERS,
            ZeroShotDataset::lastCharacterSet,
            ZeroShotDataset::countCodePoints,
            UnaryOperator.identity(),
            "text8"),
    /**
     * One Billion Word benchmark: the trailing newline is dropped; per-line punctuation
     * heuristics; words = whitespace-separated words.
     *
     * <p>Not done here: the original then retokenizes every line with the Moses perl
     * scripts and replaces each line that does not come back identical by {@code "$$$ "}
     * plus the raw line. This port applies the heuristics only, so the few lines the
     * heuristics cannot invert differ from the original's text.
     */
    BILLIONWORD(
            CountUnit.WORDS,
            ZeroShotDataset::dropLastCodePoint,
            ZeroShotDataset::countPythonWords,
            ZeroShotDataset::detokenizeBillionWord,
            "billionword.%s.txt");

    /** What {@link EvalText#units()} counts: words for word perplexity, characters for bits per character. */
    public enum CountUnit {
        WORDS,
        CHARACTERS
    }

    /**
     * A detokenized evaluation text.
     *
     * @param units words or characters of the trimmed raw file, the denominator the original reports
     */
    public record EvalText(ZeroShotDataset dataset, String text, long units, CountUnit unit) {}

    private static final int CHARACTER_SET_LENGTH = 5_000_000;
    private static final String PY_SPACE = "[" + Whitespace.PYTHON_CLASS + "]";
    private static final String PY_WORD = "[\\p{L}\\p{N}_]";

    private final CountUnit unit;
    private final UnaryOperator<String> trim;
    private final ToLongFunction<String> count;
    private final UnaryOperator<String> detokenizer;
    private final String rawFilePattern;

    ZeroShotDataset(
            CountUnit unit,
            UnaryOperator<String> trim,
            ToLongFunction<String> count,
            UnaryOperator<String> detokenizer,
            String rawFilePattern) {
        this.unit = unit;
        this.trim = trim;
        this.count = count;
        this.detokenizer = detokenizer;
        this.rawFilePattern = rawFilePattern;
    }

    /** The original's detokenizer for this set, applied to already trimmed raw text. */
    public String detokenize(String text) {
        return detokenizer.apply(text);
    }

    /** The raw file's name under the data root, e.g. {@code ptb.valid.txt}; enwik8 and text8 ignore the split. */
    public String rawFileName(String split) {
        return rawFilePattern.formatted(split);
    }

    /** The name the original and the fixtures use: {@code ptb}, {@code wikitext2}, ... */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static ZeroShotDataset byId(String id) {
        return Arrays.stream(values())
                .filter(d -> d.id().equals(id))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException(
                        "unknown dataset '" + id + "'; known: " + Arrays.toString(values())));
    }

    /** Trims, counts and detokenizes raw file content the way the original does. */
    public EvalText prepare(String rawFileContent) {
        String trimmed = trim.apply(rawFileContent);
        return new EvalText(this, detokenize(trimmed), count.applyAsLong(trimmed), unit);
    }

    /** Reads a raw file and {@link #prepare prepares} it. */
    public EvalText read(Path rawFile) throws IOException {
        return prepare(readLikePython(rawFile));
    }

    /**
     * Reads a file as Python's {@code open(path).read()} does: strict UTF-8 and universal
     * newlines ({@code \r\n} and lone {@code \r} become {@code \n}).
     */
    public static String readLikePython(Path file) throws IOException {
        String text;
        try {
            text = StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(Files.readAllBytes(file)))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new IOException(file + " is not valid UTF-8: " + e.getMessage(), e);
        }
        return text.indexOf('\r') < 0 ? text : text.replace("\r\n", "\n").replace('\r', '\n');
    }

    private static String detokenizePtb(String text) {
        text = text.replace(" 's", "'s")
                .replace("s ' ", "s' ")
                .replace(" n't", "n't")
                .replace(" \n ", "\n")
                .replace("\\/", "/");
        // One pass cannot replace overlapping " N N " runs; the original repeats ten times.
        for (int i = 0; i < 10; i++) text = text.replace(" N ", " 1 ");
        return text.replace("$ 1", "$1").replace("# 1", "#1").replace("<unk>", "?");
    }

    private static String detokenizeWikiText(String text) {
        return WIKITEXT.apply(text);
    }

    private static String detokenizeBillionWord(String text) {
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) lines[i] = BILLIONWORD_LINE.apply(lines[i]);
        return String.join("\n", lines);
    }

    /** The Megatron WikiText detokenizer, in the original's order. */
    private static final UnaryOperator<String> WIKITEXT = chain(
            s -> s.replace("s '", "s'"),
            // Kept for parity: the original's replacement is the literal text "/'[0-9]/".
            regex("/' [0-9]/", "/'[0-9]/"),
            s -> s.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", "."),
            s -> s.replace(" : ", ": ")
                    .replace(" ; ", "; ")
                    .replace(" . ", ". ")
                    .replace(" ! ", "! ")
                    .replace(" ? ", "? ")
                    .replace(" , ", ", "),
            regex("\\(" + PY_SPACE + "*([^)]*?)" + PY_SPACE + "*\\)", "($1)"),
            regex("\\[" + PY_SPACE + "*([^\\]]*?)" + PY_SPACE + "*\\]", "[$1]"),
            regex("\\{" + PY_SPACE + "*([^}]*?)" + PY_SPACE + "*\\}", "{$1}"),
            regex("\"" + PY_SPACE + "*([^\"]*?)" + PY_SPACE + "*\"", "\"$1\""),
            regex("'" + PY_SPACE + "*([^']*?)" + PY_SPACE + "*'", "'$1'"),
            s -> s.replace("= = = =", "====").replace("= = =", "===").replace("= =", "=="),
            s -> s.replace(" \u00B0 ", "\u00B0"),
            s -> s.replace(" \n", "\n").replace("\n ", "\n"),
            s -> s.replace(" N ", " 1 ").replace(" 's", "'s"));

    /** The original's per-line 1BW heuristics ({@code $} there is end of line, here {@code \z}: lines hold no newline). */
    private static final UnaryOperator<String> BILLIONWORD_LINE = chain(
            s -> s.replace("http : / / ", "http://").replace("https : / / ", "https://"),
            regex(" '(" + PY_WORD + "+)", "'$1"),
            regex(" (" + PY_WORD + "+) \\. ", " $1. "),
            regex(" (" + PY_WORD + "+) \\.\\z", " $1."),
            s -> s.replace(" ? ", "? "),
            regex(" \\?\\z", "?"),
            s -> s.replace(" ! ", "! "),
            regex(" !\\z", "!"),
            s -> s.replace(" , ", ", ")
                    .replace(" : ", ": ")
                    .replace(" ; ", "; ")
                    .replace(" / ", "/"),
            regex("\" ([^\"]+) \"", "\"$1\""),
            regex("' ([^']+) '", "'$1'"),
            regex("\\( ([^()]+) \\)", "($1)"),
            regex("\\[ ([^\\[\\]]+) \\]", "[$1]"),
            s -> s.replace("$ ", "$").replace("\u00A3 ", "\u00A3"));

    @SafeVarargs
    private static UnaryOperator<String> chain(UnaryOperator<String>... steps) {
        return text -> {
            for (UnaryOperator<String> step : steps) text = step.apply(text);
            return text;
        };
    }

    private static UnaryOperator<String> regex(String pattern, String replacement) {
        Pattern compiled = Pattern.compile(pattern);
        return text -> compiled.matcher(text).replaceAll(replacement);
    }

    private static String dropLastCodePoint(String s) {
        return s.isEmpty() ? s : s.substring(0, s.offsetByCodePoints(s.length(), -1));
    }

    private static String dropFirstCodePoint(String s) {
        return s.isEmpty() ? s : s.substring(s.offsetByCodePoints(0, 1));
    }

    private static String lastCharacterSet(String s) {
        int total = s.codePointCount(0, s.length());
        return total <= CHARACTER_SET_LENGTH ? s : s.substring(s.offsetByCodePoints(0, total - CHARACTER_SET_LENGTH));
    }

    private static long countCodePoints(String s) {
        return s.codePointCount(0, s.length());
    }

    /** Python's {@code len(s.split(' '))}: empty fields between adjacent spaces count too. */
    static long countSingleSpaceFields(String s) {
        return s.chars().filter(c -> c == ' ').count() + 1;
    }

    /** Python's {@code len(s.split())}: maximal runs of non-whitespace. */
    static long countPythonWords(String s) {
        long words = 0;
        boolean inWord = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            boolean space = Whitespace.isPython(cp);
            if (!space && !inWord) words++;
            inWord = !space;
            i += Character.charCount(cp);
        }
        return words;
    }
}

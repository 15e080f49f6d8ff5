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
    /** Penn Treebank ({@code ptb.<split>.txt}); the trailing newline is dropped; words = fields between single spaces. */
    PTB(CountUnit.WORDS) {
        @Override
        public String detokenize(String text) {
            text = text.replace(" 's", "'s").replace("s ' ", "s' ").replace(" n't", "n't")
                    .replace(" \n ", "\n").replace("\\/", "/");
            // One pass cannot replace overlapping " N N " runs; the original repeats ten times.
            for (int i = 0; i < 10; i++) text = text.replace(" N ", " 1 ");
            return text.replace("$ 1", "$1").replace("# 1", "#1").replace("<unk>", "?");
        }

        @Override
        String trim(String raw) {
            return dropLastCodePoint(raw);
        }

        @Override
        long count(String trimmed) {
            return countSingleSpaceFields(trimmed);
        }

        @Override
        public String rawFileName(String split) {
            return "ptb." + split + ".txt";
        }
    },
    /** WikiText-2 ({@code wikitext2.<split>.tokens}); see {@link #WIKITEXT103}. */
    WIKITEXT2(CountUnit.WORDS) {
        @Override
        public String detokenize(String text) {
            return detokenizeWikiText(text);
        }

        @Override
        String trim(String raw) {
            return dropFirstCodePoint(raw);
        }

        @Override
        long count(String trimmed) {
            return countSingleSpaceFields(trimmed);
        }

        @Override
        public String rawFileName(String split) {
            return "wikitext2." + split + ".tokens";
        }
    },
    /** WikiText-103: the initial space is dropped; the Megatron detokenizer; words = fields between single spaces. */
    WIKITEXT103(CountUnit.WORDS) {
        @Override
        public String detokenize(String text) {
            return detokenizeWikiText(text);
        }

        @Override
        String trim(String raw) {
            return dropFirstCodePoint(raw);
        }

        @Override
        long count(String trimmed) {
            return countSingleSpaceFields(trimmed);
        }

        @Override
        public String rawFileName(String split) {
            return "wikitext103." + split + ".tokens";
        }
    },
    /** enwik8: the last 5,000,000 characters, unchanged; the count is characters. */
    ENWIK8(CountUnit.CHARACTERS) {
        @Override
        public String detokenize(String text) {
            return text;
        }

        @Override
        String trim(String raw) {
            return lastCodePoints(raw, CHARACTER_SET_LENGTH);
        }

        @Override
        long count(String trimmed) {
            return trimmed.codePointCount(0, trimmed.length());
        }

        @Override
        public String rawFileName(String split) {
            return "enwik8";
        }
    },
    /** text8: as {@link #ENWIK8}. */
    TEXT8(CountUnit.CHARACTERS) {
        @Override
        public String detokenize(String text) {
            return text;
        }

        @Override
        String trim(String raw) {
            return lastCodePoints(raw, CHARACTER_SET_LENGTH);
        }

        @Override
        long count(String trimmed) {
            return trimmed.codePointCount(0, trimmed.length());
        }

        @Override
        public String rawFileName(String split) {
            return "text8";
        }
    },
    /**
     * One Billion Word benchmark: the trailing newline is dropped; line-by-line punctuation
     * heuristics; words = whitespace-separated words.
     *
     * <p>Not done here: the original then retokenizes every line with the Moses perl
     * scripts and replaces lines that do not come back identical by {@code "$$$ "} plus the
     * raw line. This port applies the heuristics only, so a few lines differ from the
     * original's text.
     */
    BILLIONWORD(CountUnit.WORDS) {
        @Override
        public String detokenize(String text) {
            String[] lines = text.split("\n", -1);
            for (int i = 0; i < lines.length; i++) lines[i] = BILLIONWORD_LINE.apply(lines[i]);
            return String.join("\n", lines);
        }

        @Override
        String trim(String raw) {
            return dropLastCodePoint(raw);
        }

        @Override
        long count(String trimmed) {
            return countPythonWords(trimmed);
        }

        @Override
        public String rawFileName(String split) {
            return "billionword." + split + ".txt";
        }
    };

    /** What {@link EvalText#units()} counts: words for word perplexity, characters for bits per character. */
    public enum CountUnit { WORDS, CHARACTERS }

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

    ZeroShotDataset(CountUnit unit) {
        this.unit = unit;
    }

    /** The original's detokenizer for this set, applied to already trimmed raw text. */
    public abstract String detokenize(String text);

    abstract String trim(String raw);

    abstract long count(String trimmed);

    /** The raw file's name under the data root, e.g. {@code ptb.valid.txt}; enwik8 and text8 have no splits. */
    public abstract String rawFileName(String split);

    /** The name the original and the fixtures use: {@code ptb}, {@code wikitext2}, ... */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static ZeroShotDataset byId(String id) {
        return Arrays.stream(values()).filter(d -> d.id().equals(id)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown dataset '" + id + "'; known: " + Arrays.toString(values())));
    }

    /** Trims, counts and detokenizes raw file content the way the original does. */
    public EvalText prepare(String rawFileContent) {
        String trimmed = trim(rawFileContent);
        return new EvalText(this, detokenize(trimmed), count(trimmed), unit);
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
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(Files.readAllBytes(file))).toString();
        } catch (CharacterCodingException e) {
            throw new IOException(file + " is not valid UTF-8: " + e.getMessage(), e);
        }
        return text.indexOf('\r') < 0 ? text : text.replace("\r\n", "\n").replace('\r', '\n');
    }

    private static String detokenizeWikiText(String text) {
        return WIKITEXT.apply(text);
    }

    /** The Megatron WikiText detokenizer, in the original's order. */
    private static final UnaryOperator<String> WIKITEXT = chain(
            s -> s.replace("s '", "s'"),
            // As in the original: a literal pattern that almost never matches, kept for parity.
            s -> s.replace("/' [0-9]/", "/'[0-9]/"),
            s -> s.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", "."),
            s -> s.replace(" : ", ": ").replace(" ; ", "; ").replace(" . ", ". ")
                    .replace(" ! ", "! ").replace(" ? ", "? ").replace(" , ", ", "),
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
            s -> s.replace(" , ", ", ").replace(" : ", ": ").replace(" ; ", "; ").replace(" / ", "/"),
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

    private static String lastCodePoints(String s, int count) {
        int total = s.codePointCount(0, s.length());
        return total <= count ? s : s.substring(s.offsetByCodePoints(0, total - count));
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

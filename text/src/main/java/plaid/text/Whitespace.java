package plaid.text;

/** The two notions of whitespace the original pipeline mixes: Rust's and Python's. */
final class Whitespace {
    private Whitespace() {}

    /** Unicode's White_Space property, which Rust's {@code char::is_whitespace} and Oniguruma's {@code \s} use. */
    static boolean isUnicode(int codePoint) {
        return (codePoint >= 0x09 && codePoint <= 0x0D)
                || codePoint == 0x20
                || codePoint == 0x85
                || codePoint == 0xA0
                || codePoint == 0x1680
                || (codePoint >= 0x2000 && codePoint <= 0x200A)
                || codePoint == 0x2028
                || codePoint == 0x2029
                || codePoint == 0x202F
                || codePoint == 0x205F
                || codePoint == 0x3000;
    }

    /**
     * Python's {@code str.isspace}, which {@code str.split()} and {@code re}'s {@code \s}
     * use: White_Space plus the information separators U+001C..U+001F.
     */
    static boolean isPython(int codePoint) {
        return isUnicode(codePoint) || (codePoint >= 0x1C && codePoint <= 0x1F);
    }

    /** A regex character class body equal to {@link #isPython}, for patterns ported from Python. */
    static final String PYTHON_CLASS =
            "\\t\\n\\x0B\\f\\r\\x1C-\\x1F \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
}

package plaid.text;

/**
 * GPT-2's reversible byte-to-character table: printable Latin-1 bytes stand for
 * themselves and the other 68 bytes are moved to U+0100.., so every byte string becomes
 * a string of visible characters that BPE vocabularies and merges can be written in.
 */
final class ByteLevelAlphabet {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE;

    static {
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_TO_CHAR[b] = (char) (printable ? b : next++);
        }
        CHAR_TO_BYTE = new int[next];
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        for (int b = 0; b < 256; b++) CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = b;
    }

    private ByteLevelAlphabet() {}

    static char charOf(int unsignedByte) {
        return BYTE_TO_CHAR[unsignedByte];
    }

    /** The byte a character stands for, or -1 when the character is not in the alphabet. */
    static int byteOf(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /** The 256 alphabet characters, each as a one-character string, in byte order. */
    static String[] symbols() {
        String[] symbols = new String[256];
        for (int b = 0; b < 256; b++) symbols[b] = String.valueOf(BYTE_TO_CHAR[b]);
        return symbols;
    }

    /** Maps raw UTF-8 bytes to their alphabet string. */
    static String encode(byte[] bytes) {
        char[] chars = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) chars[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        return new String(chars);
    }
}

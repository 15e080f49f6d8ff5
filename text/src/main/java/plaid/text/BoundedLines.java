package plaid.text;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * The lines of a byte stream ({@code \n}-separated, without the newline), each held only
 * if it has at most {@code maxBytes} bytes: a longer line is read past and reported by its
 * length, so a small compressed file that inflates to one huge line costs no memory.
 * Not thread-safe; does not close the stream.
 */
public final class BoundedLines {
    /** One line: its bytes, or only its length when it was too long to keep. */
    public sealed interface Line {}

    public record Kept(byte[] bytes) implements Line {}

    public record TooLong(long bytes) implements Line {}

    private final InputStream in;
    private final int maxBytes;
    private final byte[] buffer = new byte[1 << 16];
    private int position, limit;
    private byte[] line = new byte[256];

    public BoundedLines(InputStream in, int maxBytes) {
        if (maxBytes < 1) throw new IllegalArgumentException("maxBytes must be >= 1, got " + maxBytes);
        this.in = in;
        this.maxBytes = maxBytes;
    }

    /** The next line, or null at the end of the stream (a final line without a newline is still a line). */
    public Line next() throws IOException {
        long length = 0;
        boolean readAny = false;
        while (true) {
            if (position == limit) {
                int read = in.read(buffer, 0, buffer.length);
                position = 0;
                limit = Math.max(read, 0);
                if (read < 0) {
                    if (!readAny) return null;
                    break;
                }
                continue;
            }
            readAny = true;
            int newline = indexOfNewline();
            int end = newline >= 0 ? newline : limit, count = end - position;
            if (length + count <= maxBytes) {
                if (length + count > line.length)
                    line = Arrays.copyOf(line, (int) Math.min(maxBytes, Math.max(line.length * 2L, length + count)));
                System.arraycopy(buffer, position, line, (int) length, count);
            }
            length += count;
            position = newline >= 0 ? newline + 1 : limit;
            if (newline >= 0) break;
        }
        if (length > maxBytes) return new TooLong(length);
        return new Kept(Arrays.copyOf(line, (int) length));
    }

    private int indexOfNewline() {
        for (int i = position; i < limit; i++) if (buffer[i] == '\n') return i;
        return -1;
    }
}

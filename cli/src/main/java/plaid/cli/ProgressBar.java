package plaid.cli;

import java.io.PrintStream;

/** One line redrawn in place: a bar, a count and whatever the caller adds. */
final class ProgressBar {
    private static final int WIDTH = 30;
    private final PrintStream out;
    private String label;
    private int lastLength;

    ProgressBar(PrintStream out, String label) {
        this.out = out;
        this.label = label;
    }

    /** Redraws the line under another label (the same line: a job's training, then its validation). */
    void update(String label, long done, long total, String detail) {
        this.label = label;
        update(done, total, detail);
    }

    void update(long done, long total, String detail) {
        int filled = total <= 0 ? 0 : (int) Math.min(WIDTH, WIDTH * done / total);
        String line = String.format(
                "%s [%s%s] %d/%d %s", label, "=".repeat(filled), " ".repeat(WIDTH - filled), done, total, detail);
        // pad over what the previous, possibly longer, line left behind
        out.print("\r" + line + " ".repeat(Math.max(0, lastLength - line.length())));
        out.flush();
        lastLength = line.length();
    }

    void finish() {
        out.println();
        lastLength = 0;
    }
}

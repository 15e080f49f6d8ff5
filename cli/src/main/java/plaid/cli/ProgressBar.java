package plaid.cli;

import java.io.PrintStream;

/** One line redrawn in place: a bar, a count and whatever the caller adds. */
final class ProgressBar {
    private static final int WIDTH = 30;
    private final PrintStream out;
    private String label;
    private int lastLength;
    private int ticks;

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
        redraw(String.format(
                "%s [%s%s] %d/%d %s", label, "=".repeat(filled), " ".repeat(WIDTH - filled), done, total, detail));
    }

    /** Progress whose total is not known: a marker moving back and forth at each call, and the detail. */
    void note(String detail) {
        int period = 2 * (WIDTH - 1);
        int at = ticks++ % period;
        int position = at < WIDTH ? at : period - at;
        redraw(String.format("%s [%s<=>%s] %s", label, " ".repeat(position), " ".repeat(WIDTH - 1 - position), detail));
    }

    private void redraw(String line) {
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

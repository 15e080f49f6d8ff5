package plaid.backend;

import java.util.Arrays;

/**
 * How each row of a batch is cut into attention segments: tokens attend only inside
 * their own segment, while rotary positions keep counting along the whole row.
 * A row with one segment is a plain row; the original splits a few rows in two.
 */
public final class Segments {
    private final int seqLen;
    /** starts[b] = ascending segment start positions of row b, first always 0. */
    private final int[][] starts;

    private Segments(int seqLen, int[][] starts) {
        this.seqLen = seqLen;
        this.starts = starts;
    }

    public static Segments whole(int rows, int seqLen) {
        int[][] s = new int[rows][];
        for (int b = 0; b < rows; b++) s[b] = new int[] {0};
        return new Segments(seqLen, s);
    }

    /**
     * Rows given as segment lengths ({@code lengths[b]} lists row b's segment lengths;
     * zeros are ignored), each summing to {@code seqLen}.
     */
    public static Segments ofLengths(int seqLen, int[][] lengths) {
        int[][] s = new int[lengths.length][];
        for (int b = 0; b < lengths.length; b++) {
            int[] row = Arrays.stream(lengths[b]).filter(l -> l != 0).toArray();
            int total = 0;
            s[b] = new int[row.length];
            for (int k = 0; k < row.length; k++) {
                if (row[k] < 0) throw new IllegalArgumentException("row " + b + ": negative segment length " + row[k]);
                s[b][k] = total;
                total += row[k];
            }
            if (total != seqLen) {
                throw new IllegalArgumentException("row " + b + ": segment lengths " + Arrays.toString(lengths[b])
                        + " do not sum to seq_len " + seqLen);
            }
        }
        return new Segments(seqLen, s);
    }

    public int rows() {
        return starts.length;
    }

    public int seqLen() {
        return seqLen;
    }

    /** The segments of the given rows, in that order (the self-conditioning pass sees a subset). */
    public Segments select(int[] rowIndices) {
        int[][] s = new int[rowIndices.length][];
        for (int i = 0; i < rowIndices.length; i++) s[i] = starts[rowIndices[i]];
        return new Segments(seqLen, s);
    }

    /** First position of the segment holding {@code pos} in row {@code row}. */
    public int segmentStart(int row, int pos) {
        int[] st = starts[row];
        int k = st.length - 1;
        while (st[k] > pos) k--;
        return st[k];
    }

    /** One past the last position of the segment holding {@code pos} in row {@code row}. */
    public int segmentEnd(int row, int pos) {
        int[] st = starts[row];
        for (int s : st) if (s > pos) return s;
        return seqLen;
    }

    public boolean isWhole() {
        for (int[] st : starts) if (st.length != 1) return false;
        return true;
    }
}

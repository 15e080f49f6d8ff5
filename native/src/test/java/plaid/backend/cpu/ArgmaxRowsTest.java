package plaid.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import plaid.backend.Tensor;

/** The decoded token of each row: the first largest value, NaNs passed over unless in column 0. */
class ArgmaxRowsTest {
    private final CpuBackend cpu = new CpuBackend();

    @Test
    void firstLargestValuePerRow() {
        float nan = Float.NaN, inf = Float.POSITIVE_INFINITY;
        float[][] rows = {
            {0.1f, 3f, -2f, 3f}, // a tie: the first
            {-inf, -inf, -inf, -inf}, // nothing beats column 0
            {-1f, nan, -0.5f, nan}, // NaNs never win
            {nan, 5f, 6f, 7f}, // ... except in column 0, which nothing beats
            {-3f, -2f, -1f, inf},
        };
        Tensor t = cpu.allocate(rows.length, 4);
        float[] flat = new float[rows.length * 4];
        for (int r = 0; r < rows.length; r++) System.arraycopy(rows[r], 0, flat, r * 4, 4);
        cpu.upload(flat, t);
        assertThat(cpu.argmaxRows(t)).containsExactly(1, 0, 2, 0, 3);
        assertThat(cpu.argmaxRows(t.view(4, 4, 4)))
                .as("a view from the second row")
                .containsExactly(0, 2, 0, 3);
    }
}

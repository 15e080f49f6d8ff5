package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class NumpyLegacyShuffleTest {
    // Expected values printed by NumPy: np.random.seed(s); x = list(range(n)); np.random.shuffle(x).
    @Test
    void matchesNumpyForSmallLists() {
        assertThat(NumpyLegacyShuffle.permutation(10, 0)).containsExactly(2, 8, 4, 9, 1, 6, 7, 3, 0, 5);
        assertThat(NumpyLegacyShuffle.permutation(7, 12345)).containsExactly(6, 3, 4, 0, 1, 5, 2);
    }

    @Test
    void matchesNumpyForALargeList() {
        int[] order = NumpyLegacyShuffle.permutation(100_000, 0);
        assertThat(Arrays.copyOfRange(order, 0, 5)).containsExactly(3582, 60498, 53227, 21333, 3885);
        assertThat(Arrays.copyOfRange(order, 99_995, 100_000)).containsExactly(21243, 45891, 42613, 43567, 68268);
    }
}

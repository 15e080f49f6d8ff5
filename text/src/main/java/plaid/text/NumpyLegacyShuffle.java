package plaid.text;

/**
 * The permutation {@code np.random.seed(seed); np.random.shuffle(x)} produces: Mersenne
 * Twister MT19937 seeded with {@code init_genrand}, and NumPy's legacy Fisher-Yates with
 * masked rejection sampling. With it, seed 0 splits OWT2 exactly as the original did.
 */
final class NumpyLegacyShuffle {
    private static final int N = 624, M = 397;
    private final int[] state = new int[N];
    private int index = N;

    private NumpyLegacyShuffle(long seed) {
        if (seed < 0 || seed > 0xFFFFFFFFL)
            throw new IllegalArgumentException("NumPy seeds are 32-bit unsigned, got " + seed);
        state[0] = (int) seed;
        for (int i = 1; i < N; i++) state[i] = 1812433253 * (state[i - 1] ^ (state[i - 1] >>> 30)) + i;
    }

    /** Indices 0..n-1 in the order NumPy's legacy shuffle leaves {@code list(range(n))}. */
    static int[] permutation(int n, long seed) {
        NumpyLegacyShuffle random = new NumpyLegacyShuffle(seed);
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = random.boundedInclusive(i);
            int swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        return order;
    }

    /** Uniform in [0, max]: draws masked to max's bit width until one is not above max. */
    private int boundedInclusive(int max) {
        int mask = max;
        mask |= mask >>> 1;
        mask |= mask >>> 2;
        mask |= mask >>> 4;
        mask |= mask >>> 8;
        mask |= mask >>> 16;
        int value;
        do value = nextInt() & mask;
        while (value > max);
        return value;
    }

    private int nextInt() {
        if (index >= N) twist();
        int y = state[index++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9D2C5680;
        y ^= (y << 15) & 0xEFC60000;
        return y ^ (y >>> 18);
    }

    private void twist() {
        for (int i = 0; i < N; i++) {
            int y = (state[i] & 0x80000000) | (state[(i + 1) % N] & 0x7FFFFFFF);
            state[i] = state[(i + M) % N] ^ (y >>> 1) ^ ((y & 1) != 0 ? 0x9908B0DF : 0);
        }
        index = 0;
    }
}

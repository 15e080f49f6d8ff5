package plaid.text;

import java.util.Arrays;

/**
 * A BPE model's merge table and its application to one pre-tokenized piece: the adjacent
 * pair of lowest rank is merged first, the leftmost of equal ranks first, until no pair
 * has a rank.
 *
 * <p>Applying the rules is O(n log n) in the piece's length n: the symbols form a linked
 * list and every mergeable adjacent pair waits in a heap ordered by (rank, position). An
 * entry that a neighbouring merge made stale is recognised when it comes out, because its
 * pair's rank is looked up again. This is the order a rescan of the whole piece after
 * every merge would give (the quadratic way), because every current pair is in the heap.
 * Immutable and thread-safe.
 */
final class BpeMerges {
    private static final long EMPTY = -1;

    /** Open addressing from {@code pairKey(left, right)} to rank, so lookups do not box. */
    private final long[] keys;

    private final int[] ranks;
    private final int mask;
    private final int[] mergedIdByRank;

    /**
     * @param pairs          for rank r, {@code pairs[r] = {leftId, rightId}}
     * @param mergedIdByRank for rank r, the id of the merged token
     */
    BpeMerges(int[][] pairs, int[] mergedIdByRank) {
        int capacity = Integer.highestOneBit(Math.max(4, pairs.length * 2 + 1)) << 1;
        this.keys = new long[capacity];
        Arrays.fill(keys, EMPTY);
        this.ranks = new int[capacity];
        this.mask = capacity - 1;
        this.mergedIdByRank = mergedIdByRank.clone();
        for (int rank = 0; rank < pairs.length; rank++) {
            long key = pairKey(pairs[rank][0], pairs[rank][1]);
            int slot = slot(key);
            // A pair listed twice keeps its first (lowest) rank, as Hugging Face does.
            if (keys[slot] == EMPTY) {
                keys[slot] = key;
                ranks[slot] = rank;
            }
        }
    }

    /** The rank of merging {@code left} then {@code right}, or -1 if no rule merges them. */
    int rank(int left, int right) {
        long key = pairKey(left, right);
        int slot = slot(key);
        return keys[slot] == key ? ranks[slot] : -1;
    }

    int mergedId(int rank) {
        return mergedIdByRank[rank];
    }

    private int slot(long key) {
        int slot = (int) (mix(key) & mask);
        while (keys[slot] != EMPTY && keys[slot] != key) slot = (slot + 1) & mask;
        return slot;
    }

    private static long mix(long key) {
        key *= 0x9E3779B97F4A7C15L;
        return key ^ (key >>> 29);
    }

    private static long pairKey(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    /** Merges {@code symbols[0, count)} in place and returns the resulting ids. */
    int[] apply(int[] symbols, int count) {
        if (count < 2) return Arrays.copyOf(symbols, count);
        // next[i]: the symbol after i, or -1; prev likewise. A merge keeps the left symbol's slot.
        int[] next = new int[count], prev = new int[count];
        long[] heap = new long[count - 1];
        int size = 0;
        for (int i = 0; i < count; i++) {
            next[i] = i + 1 < count ? i + 1 : -1;
            prev[i] = i - 1;
            if (i + 1 < count) {
                int rank = rank(symbols[i], symbols[i + 1]);
                if (rank >= 0) heap[size++] = entry(rank, i);
            }
        }
        LongHeap queue = new LongHeap(heap, size);
        while (!queue.isEmpty()) {
            long entry = queue.pop();
            int rank = (int) (entry >>> 32), left = (int) entry;
            int right = next[left];
            // Stale: the left symbol was merged away or grew, or its right neighbour changed.
            if (symbols[left] < 0 || right < 0 || rank(symbols[left], symbols[right]) != rank) continue;
            symbols[left] = mergedIdByRank[rank];
            symbols[right] = -1;
            next[left] = next[right];
            if (next[left] >= 0) prev[next[left]] = left;
            if (prev[left] >= 0) {
                int before = rank(symbols[prev[left]], symbols[left]);
                if (before >= 0) queue.push(entry(before, prev[left]));
            }
            if (next[left] >= 0) {
                int after = rank(symbols[left], symbols[next[left]]);
                if (after >= 0) queue.push(entry(after, left));
            }
        }
        int merged = 0;
        for (int i = 0; i >= 0; i = next[i]) symbols[merged++] = symbols[i];
        return Arrays.copyOf(symbols, merged);
    }

    /** Rank in the high half and position in the low half: the smallest entry is the lowest rank, leftmost. */
    private static long entry(int rank, int position) {
        return ((long) rank << 32) | position;
    }

    /** A binary min-heap of longs; every merge adds at most two entries, so it grows by doubling. */
    private static final class LongHeap {
        private long[] items;
        private int size;

        LongHeap(long[] items, int size) {
            this.items = items;
            this.size = size;
            for (int i = size / 2 - 1; i >= 0; i--) siftDown(i);
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long item) {
            if (size == items.length) items = Arrays.copyOf(items, Math.max(4, size * 2));
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (items[parent] <= item) break;
                items[i] = items[parent];
                i = parent;
            }
            items[i] = item;
        }

        long pop() {
            long top = items[0];
            items[0] = items[--size];
            siftDown(0);
            return top;
        }

        private void siftDown(int i) {
            long item = items[i];
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) break;
                if (child + 1 < size && items[child + 1] < items[child]) child++;
                if (items[child] >= item) break;
                items[i] = items[child];
                i = child;
            }
            items[i] = item;
        }
    }
}

package plaid.text;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.ConcurrentMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Learns a byte-level BPE tokenizer from text, the way Hugging Face's {@code BpeTrainer}
 * with a {@code ByteLevel} pre-tokenizer does: special tokens take the first ids, the 256
 * byte symbols follow (sorted by character), then merges are learned greedily, always
 * the most frequent adjacent pair (ties: smallest ids), until the vocabulary is full or
 * no pair occurs {@code minFrequency} times. Special tokens in the corpus are cut out
 * rather than learned.
 *
 * @param vocabSize     total ids including special tokens and the 256 byte symbols
 * @param specialTokens added tokens, ids 0.. in this order
 * @param minFrequency  a pair occurring fewer times is never merged
 */
public record BpeTrainer(int vocabSize, List<String> specialTokens, long minFrequency) {
    public BpeTrainer {
        specialTokens = List.copyOf(specialTokens);
        if (new HashSet<>(specialTokens).size() != specialTokens.size())
            throw new IllegalArgumentException("duplicate special tokens " + specialTokens);
        if (vocabSize < specialTokens.size() + 256)
            throw new IllegalArgumentException("vocabSize " + vocabSize + " is below the " + specialTokens.size()
                    + " special tokens plus 256 byte symbols");
        if (minFrequency < 1)
            throw new IllegalArgumentException("minFrequency must be at least 1, got " + minFrequency);
    }

    /** Trains on the texts (each one a document); a parallel stream counts words in parallel. */
    public BpeTokenizer train(Stream<String> texts) {
        List<AddedToken> added = new ArrayList<>();
        for (String token : specialTokens) added.add(AddedToken.special(added.size(), token));
        ByteLevelPreTokenizer preTokenizer = new ByteLevelPreTokenizer(false, true);
        ConcurrentMap<String, Long> wordCounts = texts.flatMap(
                        text -> ordinaryTextPieces(new AddedTokenSplitter(added), preTokenizer, text))
                .collect(Collectors.groupingByConcurrent(
                        piece -> ByteLevelAlphabet.encode(piece.getBytes(StandardCharsets.UTF_8)),
                        Collectors.counting()));

        Map<String, Integer> vocab = new LinkedHashMap<>();
        List<String> tokens = new ArrayList<>();
        for (String special : specialTokens) {
            vocab.put(special, tokens.size());
            tokens.add(special);
        }
        String[] alphabet = ByteLevelAlphabet.symbols();
        Arrays.sort(alphabet);
        for (String symbol : alphabet) {
            if (vocab.putIfAbsent(symbol, tokens.size()) == null) tokens.add(symbol);
        }
        List<BpeTokenizer.Merge> merges = new PairMerger(wordCounts, vocab, tokens).learn(vocabSize, minFrequency);
        return new BpeTokenizer(vocab, merges, added, preTokenizer, false, null);
    }

    private static Stream<String> ordinaryTextPieces(
            AddedTokenSplitter splitter, ByteLevelPreTokenizer preTokenizer, String text) {
        List<String> pieces = new ArrayList<>();
        splitter.split(text, segment -> {
            if (segment instanceof AddedTokenSplitter.Text plain) preTokenizer.forEachPiece(plain.text(), pieces::add);
            return true;
        });
        return pieces.stream();
    }

    /** The greedy merge loop over distinct words, with pair counts updated incrementally. */
    private static final class PairMerger {
        private record Candidate(long pair, long count) {}

        private final int[][] words;
        private final long[] frequencies;
        private final Map<String, Integer> vocab;
        private final List<String> tokens;
        private final Map<Long, Long> pairCounts = new HashMap<>();
        private final Map<Long, Set<Integer>> wordsByPair = new HashMap<>();
        private final PriorityQueue<Candidate> queue = new PriorityQueue<>(
                Comparator.comparingLong(Candidate::count).reversed().thenComparingLong(Candidate::pair));

        PairMerger(Map<String, Long> wordCounts, Map<String, Integer> vocab, List<String> tokens) {
            this.vocab = vocab;
            this.tokens = tokens;
            // Sorted so that the result does not depend on hash order.
            List<Map.Entry<String, Long>> entries = wordCounts.entrySet().stream()
                    .sorted(Map.Entry.comparingByKey())
                    .toList();
            words = new int[entries.size()][];
            frequencies = new long[entries.size()];
            for (int w = 0; w < entries.size(); w++) {
                String word = entries.get(w).getKey();
                words[w] = word.chars()
                        .map(c -> vocab.get(String.valueOf((char) c)))
                        .toArray();
                frequencies[w] = entries.get(w).getValue();
                countPairs(w, +1);
            }
            pairCounts.forEach((pair, count) -> queue.add(new Candidate(pair, count)));
        }

        List<BpeTokenizer.Merge> learn(int vocabSize, long minFrequency) {
            List<BpeTokenizer.Merge> merges = new ArrayList<>();
            while (tokens.size() < vocabSize && !queue.isEmpty()) {
                Candidate best = queue.poll();
                long current = pairCounts.getOrDefault(best.pair(), 0L);
                if (current != best.count()) {
                    // A stale entry: the pair lost occurrences to earlier merges.
                    if (current > 0) queue.add(new Candidate(best.pair(), current));
                    continue;
                }
                if (current < minFrequency) break;
                int left = (int) (best.pair() >>> 32), right = (int) best.pair();
                String merged = tokens.get(left) + tokens.get(right);
                // Different pairs can spell the same token ("ab"+"c", "a"+"bc"): they share its id.
                Integer mergedId = vocab.get(merged);
                if (mergedId == null) {
                    mergedId = tokens.size();
                    vocab.put(merged, mergedId);
                    tokens.add(merged);
                }
                merges.add(new BpeTokenizer.Merge(tokens.get(left), tokens.get(right)));
                applyMerge(best.pair(), left, right, mergedId);
            }
            return merges;
        }

        private void applyMerge(long pair, int left, int right, int mergedId) {
            Set<Long> touched = new HashSet<>();
            for (int w : wordsByPair.remove(pair)) {
                int[] symbols = words[w];
                countPairs(w, -1);
                int[] merged = new int[symbols.length];
                int n = 0;
                for (int i = 0; i < symbols.length; i++) {
                    if (i + 1 < symbols.length && symbols[i] == left && symbols[i + 1] == right) {
                        merged[n++] = mergedId;
                        i++;
                    } else {
                        merged[n++] = symbols[i];
                    }
                }
                words[w] = Arrays.copyOf(merged, n);
                countPairs(w, +1);
                for (int i = 0; i + 1 < n; i++) touched.add(key(merged[i], merged[i + 1]));
            }
            for (long p : touched) {
                long count = pairCounts.getOrDefault(p, 0L);
                if (count > 0) queue.add(new Candidate(p, count));
            }
        }

        private void countPairs(int w, int sign) {
            int[] symbols = words[w];
            for (int i = 0; i + 1 < symbols.length; i++) {
                long pair = key(symbols[i], symbols[i + 1]);
                long count = pairCounts.merge(pair, sign * frequencies[w], Long::sum);
                if (count == 0) pairCounts.remove(pair);
                if (sign > 0)
                    wordsByPair.computeIfAbsent(pair, p -> new HashSet<>()).add(w);
            }
        }

        private static long key(int left, int right) {
            return ((long) left << 32) | right;
        }
    }
}

package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import plaid.fixtures.FixtureRoot;

/** The heap-ordered merging gives the ids of the quadratic rescan it replaced, and in O(n log n). */
class BpeMergesTest {
    private static BpeTokenizer owt2;
    /** Trained on two letters, so merges chain deeply and overlap everywhere. */
    private static BpeTokenizer twoLetters;

    @BeforeAll
    static void tokenizers() throws IOException {
        Path path = FixtureRoot.data().resolve("owt2_tokenizer.json");
        if (Files.isRegularFile(path)) owt2 = BpeTokenizer.load(path);
        Random random = new Random(3);
        List<String> corpus = IntStream.range(0, 200)
                .mapToObj(i -> randomText(random, "ab", 400))
                .toList();
        twoLetters = new BpeTrainer(600, List.of(), 2).train(corpus.stream());
    }

    @Test
    void matchesTheQuadraticRescanOnRandomAndAdversarialText() {
        Random random = new Random(11);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 300; i++) texts.add(randomText(random, "ab", 1 + random.nextInt(300)));
        for (int i = 0; i < 100; i++) texts.add(randomText(random, "aab", 1 + random.nextInt(800)));
        for (String unit : List.of("a", "ab", "aab", "abb", "ba", "abab", "aabb"))
            for (int repeats : new int[] {1, 2, 3, 7, 64, 513}) texts.add(unit.repeat(repeats));
        for (String text : texts) assertThat(twoLetters.encode(text)).as(text).isEqualTo(quadratic(twoLetters, text));
    }

    @Test
    void matchesTheQuadraticRescanWithTheOwt2Tokenizer() {
        assumeTrue(owt2 != null, "no owt2_tokenizer.json under plaid.data");
        Random random = new Random(5);
        List<String> texts = new ArrayList<>(List.of(
                "the".repeat(300),
                "a".repeat(1000),
                " ".repeat(500) + "x",
                "ĠĠĠ",
                "😀".repeat(50),
                "1234567890".repeat(30),
                "!?".repeat(200),
                "it's don't they'll",
                "日本語のテキスト"));
        String alphabet = "abcdefghijklmnopqrstuvwxyz etaoin ETAOIN .,'!?0123456789\n\téüß日😀";
        for (int i = 0; i < 300; i++) texts.add(randomText(random, alphabet, 1 + random.nextInt(400)));
        for (String text : texts) assertThat(owt2.encode(text)).as(text).isEqualTo(quadratic(owt2, text));
    }

    @Test
    void aPrefixOfTheIdsIsFoundWithoutTheRest() {
        String text = "the cat sat on the mat. ".repeat(100);
        int[] all = twoLetters.encode(text);
        for (int maxIds : new int[] {0, 1, 5, 50, all.length, all.length + 10})
            assertThat(twoLetters.encode(text, maxIds)).isEqualTo(Arrays.copyOf(all, Math.min(maxIds, all.length)));
    }

    /** 'a' * 999,999 took more than 14 minutes with the rescan; the bound is generous for a loaded 2-core machine. */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aMillionCharacterPieceTakesSeconds() {
        assumeTrue(owt2 != null, "no owt2_tokenizer.json under plaid.data");
        for (String text : List.of("a".repeat(999_999), "the".repeat(333_333))) {
            long start = System.nanoTime();
            int[] ids = owt2.encode(text);
            double seconds = (System.nanoTime() - start) / 1e9;
            assertThat(seconds)
                    .as("seconds to encode %d characters", text.length())
                    .isLessThan(30);
            assertThat(owt2.decode(ids)).isEqualTo(text);
        }
    }

    private static String randomText(Random random, String alphabet, int length) {
        int[] codePoints = alphabet.codePoints().toArray();
        StringBuilder text = new StringBuilder();
        while (text.length() < length) text.appendCodePoint(codePoints[random.nextInt(codePoints.length)]);
        return text.toString();
    }

    /** The old algorithm, kept as the oracle: rescan the whole piece for its best pair after every merge. */
    private static int[] quadratic(BpeTokenizer tokenizer, String text) {
        Map<Long, Integer> rankByPair = RANKS.computeIfAbsent(tokenizer, BpeMergesTest::rankByPair);
        List<BpeTokenizer.Merge> merges = tokenizer.merges();
        List<Integer> out = new ArrayList<>();
        for (String piece : tokenizer.preTokenizer().split(text)) {
            byte[] utf8 = piece.getBytes(StandardCharsets.UTF_8);
            int[] symbols = new int[utf8.length];
            for (int i = 0; i < utf8.length; i++)
                symbols[i] = id(tokenizer, String.valueOf(ByteLevelAlphabet.charOf(utf8[i] & 0xFF)));
            int count = symbols.length;
            while (count > 1) {
                int bestRank = Integer.MAX_VALUE, bestPosition = -1;
                for (int i = 0; i + 1 < count; i++) {
                    Integer rank = rankByPair.get(key(symbols[i], symbols[i + 1]));
                    if (rank != null && rank < bestRank) {
                        bestRank = rank;
                        bestPosition = i;
                    }
                }
                if (bestPosition < 0) break;
                BpeTokenizer.Merge merge = merges.get(bestRank);
                symbols[bestPosition] = id(tokenizer, merge.left() + merge.right());
                System.arraycopy(symbols, bestPosition + 2, symbols, bestPosition + 1, count - bestPosition - 2);
                count--;
            }
            for (int i = 0; i < count; i++) out.add(symbols[i]);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private static final Map<BpeTokenizer, Map<Long, Integer>> RANKS = new HashMap<>();

    private static Map<Long, Integer> rankByPair(BpeTokenizer tokenizer) {
        Map<Long, Integer> rankByPair = new HashMap<>();
        List<BpeTokenizer.Merge> merges = tokenizer.merges();
        for (int rank = 0; rank < merges.size(); rank++)
            rankByPair.putIfAbsent(
                    key(
                            id(tokenizer, merges.get(rank).left()),
                            id(tokenizer, merges.get(rank).right())),
                    rank);
        return rankByPair;
    }

    private static int id(BpeTokenizer tokenizer, String token) {
        return tokenizer.tokenId(token).orElseThrow();
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }
}

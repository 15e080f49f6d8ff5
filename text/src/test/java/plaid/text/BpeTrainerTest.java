package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTrainerTest {
    private static final String EOT = "<|eot|>";
    private static final List<String> WORDS = List.of(
            "the",
            "tokenizer",
            "learns",
            "merges",
            "from",
            "frequent",
            "pairs",
            "über",
            "naïve",
            "日本語",
            "1234",
            "emoji😀",
            "it's",
            "don't");
    private static List<String> corpus;
    private static BpeTokenizer trained;

    @BeforeAll
    static void train() {
        Random random = new Random(7);
        corpus = IntStream.range(0, 300)
                .mapToObj(i -> {
                    StringBuilder doc = new StringBuilder();
                    for (int w = 0; w < 20; w++)
                        doc.append(w == 0 ? "" : random.nextInt(10) == 0 ? ",\n" : " ")
                                .append(WORDS.get(random.nextInt(WORDS.size())));
                    return doc + EOT;
                })
                .toList();
        // Larger than the corpus can fill: training runs until every word is one token.
        trained = new BpeTrainer(1000, List.of(EOT), 2).train(corpus.parallelStream());
    }

    @Test
    void placesSpecialTokensFirstThenBytesThenMerges() {
        assertThat(trained.tokenId(EOT)).hasValue(0);
        assertThat(trained.tokenId("!")).hasValue(1); // byte symbols sorted by character
        assertThat(trained.vocabSize())
                .isLessThan(1000)
                .isEqualTo(257 + trained.merges().size());
        // Every pre-token of the corpus ("Ġemoji", "ðŁĺĢ", "'s", ...) has become one token.
        for (String word : WORDS)
            for (String piece : new ByteLevelPreTokenizer(false, true).split(" " + word))
                assertThat(trained.encode(piece)).as(piece).hasSize(1);
    }

    @Test
    void stopsAtTheRequestedVocabularySize() {
        BpeTokenizer small = new BpeTrainer(300, List.of(EOT), 2).train(corpus.stream());
        assertThat(small.vocabSize()).isEqualTo(300);
        assertThat(small.merges()).isEqualTo(trained.merges().subList(0, 300 - 257));
    }

    @Test
    void frequentWordsBecomeSingleTokensAndSpecialTokensStayWhole() {
        assertThat(trained.encode(" tokenizer"))
                .containsExactly(trained.tokenId("Ġtokenizer").getAsInt());
        int[] ids = trained.encode("the merges" + EOT + "pairs");
        assertThat(ids).contains(0).hasSizeLessThan(6);
        assertThat(trained.decode(ids)).isEqualTo("the mergespairs");
        assertThat(trained.decode(ids, false)).isEqualTo("the merges" + EOT + "pairs");
    }

    @Test
    void roundTripsAnyTextIncludingUnseenCharacters() {
        for (String text : Stream.concat(
                        corpus.stream().limit(20), Stream.of("", "  leading and trailing  ", "unseen ∑ ß 🎉\ttab\r\n"))
                .toList()) {
            assertThat(trained.decode(trained.encode(text), false)).isEqualTo(text);
        }
    }

    @Test
    void savedFileLoadsBackWithTheSameIds(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        trained.save(file);
        BpeTokenizer loaded = BpeTokenizer.load(file);
        assertThat(loaded.vocabSize()).isEqualTo(trained.vocabSize());
        for (String text : corpus.subList(0, 50))
            assertThat(loaded.encode(text)).isEqualTo(trained.encode(text));
        assertThat(loaded.encode("never seen before: ½ ✓")).isEqualTo(trained.encode("never seen before: ½ ✓"));
    }

    @Test
    void isDeterministic() {
        BpeTokenizer again = new BpeTrainer(1000, List.of(EOT), 2).train(corpus.stream());
        assertThat(again.merges()).isEqualTo(trained.merges());
    }

    @Test
    void mergesTheMostFrequentPairFirstBreakingTiesBySmallerIds() {
        // Words "ab" x1, "Ġab" x2, "Ġcd" x2: (a,b) occurs 3 times, then three pairs tie at 2.
        BpeTokenizer small = new BpeTrainer(1000, List.of(), 2).train(Stream.of("ab ab ab cd cd"));
        assertThat(small.merges()).extracting(m -> m.left() + m.right()).containsExactly("ab", "cd", "Ġab", "Ġcd");
    }

    @Test
    void stopsWhenNoPairIsFrequentEnough() {
        BpeTokenizer small = new BpeTrainer(1000, List.of(), 3).train(Stream.of("ab ab ab cd cd"));
        assertThat(small.merges()).extracting(m -> m.left() + m.right()).containsExactly("ab");
        assertThat(small.vocabSize()).isEqualTo(257);
    }

    @Test
    void rejectsAVocabularyTooSmallForTheByteSymbols() {
        assertThatThrownBy(() -> new BpeTrainer(256, List.of(EOT), 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("256 byte symbols");
    }
}

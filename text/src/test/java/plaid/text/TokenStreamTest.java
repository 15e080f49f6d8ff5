package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenStreamTest {
    private static final String EOT = "<|eot|>";
    private static BpeTokenizer tokenizer;

    @TempDir
    static Path dir;

    private static List<Path> shards;

    @BeforeAll
    static void writeShards() throws IOException {
        ObjectMapper json = new ObjectMapper();
        shards = new ArrayList<>();
        List<String> all = new ArrayList<>();
        for (int s = 0; s < 4; s++) {
            List<String> lines = new ArrayList<>();
            for (int d = 0; d < 25; d++) {
                String document =
                        "shard" + s + " document" + d + " says " + "hello world ".repeat(d % 5) + "\"quoted\"\nend";
                all.add(document);
                lines.add(json.writeValueAsString(document));
            }
            shards.add(Files.write(dir.resolve("train_" + s + ".jsonl"), lines));
        }
        tokenizer = new BpeTrainer(400, List.of(EOT), 2).train(all.stream());
    }

    private static TokenStream.Config config(int documentBuffer, int chunkBuffer, long seed, int rank, int world) {
        return new TokenStream.Config(shards, 16, 3, documentBuffer, chunkBuffer, seed, rank, world);
    }

    private static List<int[][]> take(TokenStream stream, int batches) {
        return Stream.generate(stream::nextBatch).limit(batches).toList();
    }

    /** The services' streams (data-svc's StreamBatches, the trainer's jobs) keep the original's document buffer of 10. */
    @Test
    void theServicesConfigKeepsTheOriginalDocumentBuffer() {
        TokenStream.Config services = TokenStream.Config.withChunkBuffer(shards, 16, 3, 20, 1, 0, 1);
        assertThat(services).isEqualTo(config(10, 20, 1, 0, 1));
        assertThat(take(TokenStream.start(tokenizer, services), 5).stream().map(Arrays::deepToString))
                .containsExactlyElementsOf(take(TokenStream.start(tokenizer, config(10, 20, 1, 0, 1)), 5).stream()
                        .map(Arrays::deepToString)
                        .toList());
        assertThat(TokenStream.Config.original(shards, 16, 3, 1, 0, 1).documentBufferSize())
                .isEqualTo(10);
    }

    @Test
    void stoppingEndsANextBatchBeforeItsTokenizing() {
        TokenStream stream = TokenStream.start(tokenizer, config(10, 20, 1, 0, 1));
        assertThatThrownBy(() -> stream.nextBatch(() -> true))
                .isInstanceOf(java.util.concurrent.CancellationException.class);
    }

    @Test
    void batchesAreFullAndDocumentsEndWithEndOfText() {
        List<int[][]> batches = take(TokenStream.start(tokenizer, config(10, 20, 1, 0, 1)), 30);
        for (int[][] batch : batches) {
            assertThat(batch).hasDimensions(3, 16);
        }
        long ends = batches.stream()
                .flatMap(Arrays::stream)
                .flatMapToInt(Arrays::stream)
                .filter(id -> id == TokenStream.END_OF_TEXT_ID)
                .count();
        assertThat(ends).isGreaterThan(30);
    }

    @Test
    void withoutShufflingTheRankReadsItsFirstShardFromALineInOrderThenWraps() {
        // Buffers of one delay by one element but keep the order.
        TokenStream stream = TokenStream.start(tokenizer, config(1, 1, 5, 1, 2));
        int[] tokens = take(stream, 40).stream()
                .flatMap(Arrays::stream)
                .flatMapToInt(Arrays::stream)
                .toArray();
        String[] documents = tokenizer.decode(tokens, false).split(Pattern.quote(EOT), -1);
        // Rank 1 of 2 over 4 shards starts at shard 2.
        assertThat(documents[0]).startsWith("shard2 document");
        int first = Integer.parseInt(
                documents[0].substring("shard2 document".length()).split(" ")[0]);
        for (int i = 1; i < 25; i++) assertThat(documents[i]).startsWith("shard2 document" + (first + i) % 25 + " ");
        assertThat(documents[25]).startsWith("shard3 document");
    }

    @Test
    void sameSeedSameBatchesOtherSeedOrRankOtherBatches() {
        List<int[][]> a = take(TokenStream.start(tokenizer, config(10, 20, 7, 0, 1)), 10);
        List<int[][]> b = take(TokenStream.start(tokenizer, config(10, 20, 7, 0, 1)), 10);
        List<int[][]> otherSeed = take(TokenStream.start(tokenizer, config(10, 20, 8, 0, 1)), 10);
        List<int[][]> otherRank = take(TokenStream.start(tokenizer, config(10, 20, 7, 1, 4)), 10);
        assertThat(a).usingRecursiveComparison().isEqualTo(b);
        assertThat(a).usingRecursiveComparison().isNotEqualTo(otherSeed);
        assertThat(a).usingRecursiveComparison().isNotEqualTo(otherRank);
    }

    @Test
    void resumesExactlyFromASavedState() throws IOException {
        TokenStream.Config config = config(10, 20, 3, 0, 1);
        TokenStream original = TokenStream.start(tokenizer, config);
        take(original, 13);
        Path saved = dir.resolve("stream.state");
        original.state().write(saved);
        List<int[][]> expected = take(original, 40);

        TokenStream resumed = TokenStream.resume(tokenizer, config, TokenStream.State.read(saved));
        assertThat(resumed.batchesServed()).isEqualTo(13);
        assertThat(take(resumed, 40)).usingRecursiveComparison().isEqualTo(expected);
    }

    @Test
    void rejectsRanksThatCannotShareTheShards() {
        assertThatThrownBy(() -> config(10, 20, 0, 0, 3))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("4 shards cannot be divided among 3 ranks");
        assertThatThrownBy(() -> config(10, 20, 0, 2, 2)).hasMessageContaining("rank 2");
        assertThat(IntStream.of(8)
                        .map(w -> config(10, 20, 0, 5, w).firstShard())
                        .toArray())
                .containsExactly(1);
    }
}

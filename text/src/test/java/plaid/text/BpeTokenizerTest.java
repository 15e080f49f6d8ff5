package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import plaid.fixtures.FixtureRoot;

class BpeTokenizerTest {
    private static final String OWT2_EOT = "<|endoftext_R9VQqF0Ag7|>";

    private static BpeTokenizer owt2() throws IOException {
        Path path = FixtureRoot.data().resolve("owt2_tokenizer.json");
        assumeTrue(Files.isRegularFile(path), "no tokenizer at " + path.toAbsolutePath());
        return BpeTokenizer.load(path);
    }

    @Test
    void owt2SpecialTokenIsMatchedInRawTextBeforePreTokenization() throws IOException {
        BpeTokenizer tokenizer = owt2();
        assertThat(tokenizer.vocabSize()).isEqualTo(32768);
        assertThat(tokenizer.tokenId(OWT2_EOT)).hasValue(0);
        int[] ids = tokenizer.encode("end." + OWT2_EOT + "Next");
        assertThat(ids).containsExactly(concat(tokenizer.encode("end."), new int[] {0}, tokenizer.encode("Next")));
        assertThat(tokenizer.decode(ids)).isEqualTo("end.Next");
        assertThat(tokenizer.decode(ids, false)).isEqualTo("end." + OWT2_EOT + "Next");
    }

    @Test
    void owt2EncodesWithoutPrefixSpaceAndDecodesBytesLossily() throws IOException {
        BpeTokenizer tokenizer = owt2();
        assertThat(tokenizer.encode("the")).isNotEqualTo(tokenizer.encode(" the"));
        assertThat(tokenizer.token(tokenizer.encode(" the")[0])).hasValue("Ġthe");
        int[] emoji = tokenizer.encode("😀");
        assertThat(tokenizer.decode(emoji)).isEqualTo("😀");
        // A cut multi-byte character becomes U+FFFD instead of failing.
        assertThat(emoji.length).isGreaterThan(1);
        assertThat(tokenizer.decode(new int[] {emoji[0]})).contains("\uFFFD");
        assertThatThrownBy(() -> tokenizer.decode(new int[] {32768}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("32768");
    }

    @Test
    void unsupportedOptionsAreRejectedByName(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, """
                {"normalizer": {"type": "NFC"}, "pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"},
                 "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""");
        assertThatThrownBy(() -> BpeTokenizer.load(file))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("normalizer");
        Files.writeString(file, """
                {"pre_tokenizer": {"type": "Whitespace"}, "decoder": {"type": "ByteLevel"},
                 "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""");
        assertThatThrownBy(() -> BpeTokenizer.load(file))
                .hasMessageContaining("pre_tokenizer must be of type ByteLevel");
        Files.writeString(file, """
                {"pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"},
                 "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}""");
        assertThatThrownBy(() -> BpeTokenizer.load(file)).hasMessageContaining("merge 0 needs token 'ab'");
    }

    @Test
    void addedTokenStripOptionsSwallowNeighbouringWhitespace() {
        BpeTokenizer tokenizer = new BpeTokenizer(
                alphabetVocab(),
                List.of(),
                List.of(new AddedToken(256, "<m>", false, true, true)),
                new ByteLevelPreTokenizer(false, true),
                false,
                null);
        assertThat(tokenizer.decode(tokenizer.encode("a  <m>  b"))).isEqualTo("a<m>b");
    }

    private static Map<String, Integer> alphabetVocab() {
        Map<String, Integer> vocab = new HashMap<>();
        String[] symbols = ByteLevelAlphabet.symbols();
        for (int b = 0; b < 256; b++) vocab.put(symbols[b], b);
        return vocab;
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }
}

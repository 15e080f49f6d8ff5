package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import plaid.fixtures.FixtureRoot;

/**
 * Parity with the original's detokenizers and the OWT2 tokenizer on every
 * {@code <ds>.<split>.detok.txt} of every text fixture directory.
 */
class TextFixturesTest {
    private static final Pattern DETOK_FILE =
            Pattern.compile("(?<dataset>[a-z0-9]+)\\.(?<split>[a-z0-9_]+)\\.detok\\.txt");
    private static final String TOKENIZER_FILE = "owt2_tokenizer.json";

    @TestFactory
    Stream<DynamicNode> detokenizersAndTokenizerMatchTheOriginal() throws IOException {
        List<Path> directories = FixtureRoot.directories("text");
        assumeTrue(!directories.isEmpty(), FixtureRoot.missingReason("text"));
        Path tokenizerPath = FixtureRoot.data().resolve(TOKENIZER_FILE);
        if (!Files.isRegularFile(tokenizerPath) && FixtureRoot.required())
            throw new IllegalStateException("missing " + tokenizerPath.toAbsolutePath());
        assumeTrue(Files.isRegularFile(tokenizerPath), "no tokenizer at " + tokenizerPath.toAbsolutePath());
        BpeTokenizer tokenizer = BpeTokenizer.load(tokenizerPath);

        List<DynamicNode> containers = new ArrayList<>();
        for (Path directory : directories) {
            JsonNode meta =
                    new ObjectMapper().readTree(directory.resolve("meta.json").toFile());
            List<DynamicNode> cases = new ArrayList<>();
            try (Stream<Path> files = Files.list(directory)) {
                for (Path detokFile : files.sorted().toList()) {
                    Matcher name = DETOK_FILE.matcher(detokFile.getFileName().toString());
                    if (name.matches())
                        cases.add(fixtureCase(tokenizer, directory, meta, name.group("dataset"), name.group("split")));
                }
            }
            assertThat(cases).as("detok fixtures in %s", directory).isNotEmpty();
            containers.add(
                    DynamicContainer.dynamicContainer(directory.getFileName().toString(), cases));
        }
        return containers.stream();
    }

    private static DynamicNode fixtureCase(
            BpeTokenizer tokenizer, Path directory, JsonNode meta, String datasetId, String split) {
        String prefix = datasetId + "." + split;
        return DynamicTest.dynamicTest(prefix, () -> {
            ZeroShotDataset dataset = ZeroShotDataset.byId(datasetId);
            Path raw = FixtureRoot.data().resolve(dataset.rawFileName(split));
            if (!Files.isRegularFile(raw) && FixtureRoot.required())
                throw new IllegalStateException("missing raw file " + raw.toAbsolutePath());
            assumeTrue(Files.isRegularFile(raw), "skipping " + prefix + ": no raw file " + raw.toAbsolutePath());
            JsonNode expected = meta.path(datasetId);
            assertThat(expected.isObject())
                    .as("meta.json entry for %s", datasetId)
                    .isTrue();
            assertThat(expected.path("split").asText()).isEqualTo(split);

            ZeroShotDataset.EvalText eval = dataset.read(raw);
            byte[] expectedText = Files.readAllBytes(directory.resolve(prefix + ".detok.txt"));
            assertThat(eval.text().getBytes(StandardCharsets.UTF_8))
                    .as("detokenized %s", prefix)
                    .isEqualTo(expectedText);
            assertThat(eval.units())
                    .as("word count")
                    .isEqualTo(expected.path("total_words").longValue());

            int[] ids = tokenizer.encode(eval.text());
            int[] expectedIds = Arrays.stream(Files.readString(directory.resolve(prefix + ".ids.txt"))
                            .trim()
                            .split(" "))
                    .mapToInt(Integer::parseInt)
                    .toArray();
            assertThat(ids).as("token ids of %s", prefix).isEqualTo(expectedIds);
            assertThat(ids.length)
                    .as("token count")
                    .isEqualTo(expected.path("total_tokens").intValue());
            assertThat(tokenizer.decode(ids).equals(eval.text()))
                    .as("decode(encode(text)) == text")
                    .isEqualTo(expected.path("decode_roundtrip_equal").booleanValue());
        });
    }
}

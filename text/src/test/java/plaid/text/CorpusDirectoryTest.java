package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CorpusDirectoryTest {
    @Test
    void aCorpusIsPreparingInItsHiddenFolderAndReadyOnlyWithItsManifest(@TempDir Path root) throws IOException {
        assertThat(CorpusDirectory.state(root, "owt2")).isEqualTo(CorpusDirectory.State.ABSENT);
        Path building = CorpusDirectory.buildingFolder(root, "owt2");
        assertThat(building.getParent()).isEqualTo(root.resolve("corpora"));
        assertThat(CorpusDirectory.isBuilding(building)).isTrue();
        assertThat(CorpusDirectory.state(root, "owt2")).isEqualTo(CorpusDirectory.State.PREPARING);
        assertThat(CorpusDirectory.state(root, "owt")).isEqualTo(CorpusDirectory.State.ABSENT);

        Files.writeString(CorpusDirectory.validationFile(building), "\"v\"\n");
        Files.writeString(CorpusDirectory.trainFile(building, 0), "\"a\"\n");
        Path tokenizer = Files.writeString(root.resolve("tok.json"), "{}");
        CorpusDirectory.Manifest manifest = new CorpusDirectory.Manifest("owt2", 2, 2, 1);
        assertThatThrownBy(() -> CorpusDirectory.seal(building, tokenizer, manifest))
                .hasMessage("train shard 1 is missing");
        assertThat(building.resolve(CorpusDirectory.MANIFEST_FILE)).doesNotExist();
        Files.writeString(CorpusDirectory.trainFile(building, 1), "\"b\"\n");
        CorpusDirectory.seal(building, tokenizer, manifest);

        Path folder = CorpusDirectory.folder(root, "owt2");
        Files.move(building, folder);
        assertThat(CorpusDirectory.state(root, "owt2")).isEqualTo(CorpusDirectory.State.READY);
        CorpusDirectory corpus = CorpusDirectory.open(folder);
        assertThat(corpus.manifest()).isEqualTo(manifest);
        assertThat(corpus.tokenizerFile()).hasContent("{}");
        assertThat(corpus.shards(CorpusDirectory.Split.TRAIN))
                .containsExactly(
                        folder.resolve("en_shuffled_train_0.jsonl"), folder.resolve("en_shuffled_train_1.jsonl"));
        assertThat(corpus.stream(CorpusDirectory.Split.VALIDATION, 8, 2, 4, 1, 0, 1)
                        .shards())
                .containsExactly(folder.resolve("en_shuffled_val.jsonl"));
        try (Stream<Path> files = Files.list(folder)) {
            assertThat(files.map(f -> f.getFileName().toString()))
                    .containsExactlyInAnyOrder(
                            "en_shuffled_val.jsonl",
                            "en_shuffled_train_0.jsonl",
                            "en_shuffled_train_1.jsonl",
                            "tokenizer.json",
                            "corpus.json");
        }

        Files.delete(folder.resolve(CorpusDirectory.MANIFEST_FILE));
        assertThat(CorpusDirectory.state(root, "owt2")).isEqualTo(CorpusDirectory.State.INCOMPLETE);
        assertThatThrownBy(() -> CorpusDirectory.open(folder)).hasMessageContaining("has no corpus.json");
    }

    @Test
    void namesArePlain() {
        assertThat(List.of("openwebtext2", "demo", "a.b_c-1")).allMatch(CorpusDirectory::isName);
        assertThat(List.of("", ".hidden", "a/b", "../x", "x".repeat(65))).noneMatch(CorpusDirectory::isName);
        assertThatThrownBy(() -> CorpusDirectory.folder(Path.of("/r"), "../x"))
                .isInstanceOf(IllegalArgumentException.class);
    }
}

package plaid.layout;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The rules docs/architecture.md states about where things live, checked over every module's main
 * sources, so a change that breaks one fails here rather than in a reader's head.
 */
class LayoutRulesTest {
    /** The reactor's root: this module's parent folder (surefire runs in the module's folder). */
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent();

    private static List<Path> mainSources() throws IOException {
        try (Stream<Path> files = Files.walk(ROOT)) {
            return files.filter(p -> p.toString().endsWith(".java"))
                    .filter(p -> ROOT.relativize(p).toString().contains("src/main/java/"))
                    .filter(p -> !ROOT.relativize(p).startsWith(".gpu"))
                    .toList();
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String module(Path p) {
        return ROOT.relativize(p).getName(0).toString();
    }

    @Test
    void theSourcesAreWhereTheRulesLook() throws IOException {
        assertThat(mainSources()).hasSizeGreaterThan(100);
    }

    @Test
    void onlyNativeAndBenchImportTheCudaClasses() throws IOException {
        assertThat(mainSources().stream()
                        .filter(p -> !module(p).equals("native") && !module(p).equals("bench"))
                        .filter(p -> read(p).contains("import plaid.backend.cuda"))
                        .map(ROOT::relativize))
                .isEmpty();
    }

    @Test
    void eachFolderFileNameIsSpelledInOneMainFile() throws IOException {
        for (String name : List.of("\"config.json\"", "\"tokenizer.json\"", "\"training_state.safetensors\""))
            assertThat(mainSources().stream()
                            .filter(p -> read(p).contains(name))
                            .map(ROOT::relativize))
                    .as(name)
                    .hasSize(1);
    }

    @Test
    void noMainFileIsLongerThanAReaderTakesInWhole() throws IOException {
        assertThat(mainSources().stream()
                        .filter(p -> read(p).lines().count() > 500)
                        .map(ROOT::relativize))
                .isEmpty();
    }
}

package plaid.model.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static plaid.model.checkpoint.CheckpointTestSupport.assertBitIdentical;
import static plaid.model.checkpoint.CheckpointTestSupport.fixtureFiles;

class PlaidStateDictsTest {
    @TempDir
    Path temp;

    @Test
    void convertsFixtureWeightsBetweenFormatsWithoutChange() throws IOException {
        for (Path model : fixtureFiles(PlaidStateDicts.MODEL + ".pt")) {
            PlaidStateDicts original = PlaidStateDicts.load(model.getParent(), CheckpointFormat.TORCH);
            assertThat(original.gammaBounds()).isNotEmpty();
            for (CheckpointFormat format : CheckpointFormat.values()) {
                Path directory = temp.resolve(model.getParent().getFileName() + "-" + format);
                original.save(directory, format);
                assertThat(directory.resolve("model" + format.extension())).isRegularFile();
                assertSame(PlaidStateDicts.load(directory, format), original);
            }
        }
    }

    @Test
    void namesTheMissingFile() throws IOException {
        Path directory = temp.resolve("partial");
        Files.createDirectories(directory);
        Files.copy(fixtureFiles(PlaidStateDicts.MODEL + ".pt").getFirst(), directory.resolve("model.pt"));

        assertThatThrownBy(() -> PlaidStateDicts.load(directory, CheckpointFormat.TORCH))
                .isInstanceOf(NoSuchFileException.class)
                .hasMessageContaining(directory.resolve("noise_schedule.pt").toString())
                .hasMessageContaining("module 'noise_schedule'");
        assertThatThrownBy(() -> PlaidStateDicts.load(directory, CheckpointFormat.SAFETENSORS))
                .isInstanceOf(NoSuchFileException.class)
                .hasMessageContaining(directory.resolve("model.safetensors").toString());
    }

    private static void assertSame(PlaidStateDicts actual, PlaidStateDicts expected) {
        assertBitIdentical(actual.model(), expected.model());
        assertBitIdentical(actual.noiseSchedule(), expected.noiseSchedule());
        assertBitIdentical(actual.gammaBounds(), expected.gammaBounds());
        assertBitIdentical(actual.embeddingMatrix(), expected.embeddingMatrix());
    }
}

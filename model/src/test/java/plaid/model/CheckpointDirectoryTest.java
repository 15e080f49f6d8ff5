package plaid.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import plaid.backend.cpu.CpuBackend;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.options.PlaidConfig;
import plaid.tensor.HostTensor;

/** The checkpoint folder: its step folders, config.json both ways, shapes from tensors, and confinement to its root. */
class CheckpointDirectoryTest {
    /** What an outside file holds: no message may quote it. */
    private static final String SECRET = "hunter2-swordfish";

    @TempDir
    Path temp;

    private Path root;
    private Path outside;
    private PlaidConfig config;

    @BeforeEach
    void folders() throws IOException {
        root = Files.createDirectories(temp.resolve("root"));
        outside = Files.createDirectories(temp.resolve("outside"));
        config = TrainerTest.tinyConfig();
        Files.writeString(outside.resolve("secret.txt"), SECRET + " and more\n");
        TrainingCheckpoint.saveWeights(
                PlaidParameters.initialize(config, new CpuBackend(), 1),
                outside.resolve("weights"),
                CheckpointFormat.SAFETENSORS);
    }

    private Path checkpoint(String relative) throws IOException {
        Path dir = root.resolve(relative);
        TrainingCheckpoint.saveWeights(
                PlaidParameters.initialize(config, new CpuBackend(), 1), dir, CheckpointFormat.TORCH);
        CheckpointDirectory.writeConfig(dir, config);
        return dir;
    }

    @Test
    void aFolderOfStepsStandsForItsNewestAndNamesItRelativeToTheRoot() throws IOException {
        checkpoint("run/step-3");
        checkpoint("run/step-12");
        Files.createDirectories(root.resolve("run/step-x"));
        CheckpointDirectory newest =
                CheckpointDirectory.open(root, root.resolve("run")).newestStep();
        assertThat(newest.name()).isEqualTo("run/" + CheckpointDirectory.stepFolder(12));
        assertThat(newest.path()).isEqualTo(root.resolve("run/step-12").toRealPath());
        CheckpointDirectory plain = CheckpointDirectory.open(root, checkpoint("plain"));
        assertThat(plain.newestStep().path()).isEqualTo(plain.path());
    }

    @Test
    void configJsonRoundTripsAndIntegralNumbersReadAsIntegers() throws IOException {
        Path dir = checkpoint("c");
        assertThat(CheckpointDirectory.open(root, dir).config().asMap()).isEqualTo(config.asMap());
        Files.writeString(
                dir.resolve(CheckpointDirectory.CONFIG_FILE), "{\"dim\": 384.0, \"lr\": 0.5, \"seq_len\": null}");
        assertThat(CheckpointDirectory.open(root, dir).configOptions())
                .containsExactly(Map.entry("dim", "384"), Map.entry("lr", "0.5"));
    }

    @Test
    void theTensorsTellTheShapeOptions() throws IOException {
        Map<ParameterGroup, Map<String, HostTensor>> weights =
                CheckpointDirectory.open(root, checkpoint("t")).stateDicts();
        PlaidConfig soFar = PlaidConfig.defaults();
        for (String option : new String[] {"dim", "n_blocks", "vocab_size", "embed_dim", "n_heads"}) {
            long value =
                    CheckpointDirectory.inferredOption(option, soFar, weights).orElseThrow();
            soFar.set(option, Long.toString(value));
            assertThat(value).as(option).isEqualTo(((Number) config.asMap().get(option)).longValue());
        }
        assertThat(CheckpointDirectory.inferredOption("seq_len", soFar, weights))
                .isEmpty();
    }

    @Test
    void liveWeightsReplaceTheEmaOnesOfATrainerCheckpoint() throws IOException {
        PlaidConfig c = config.copy();
        c.ema = 0.5;
        c.lrWarmupSteps = 2; // the original keeps the learning rate at 0 for the first 10 steps
        Trainer trainer = new Trainer(
                c,
                PlaidParameters.initialize(c, new CpuBackend(), 1),
                new RandomSource(5),
                TrainerTest.fixedBatch(c, 3),
                0);
        for (int s = 0; s < 14; s++) trainer.step(s);
        Path dir = root.resolve("ema");
        TrainingCheckpoint.save(trainer, 13, dir, CheckpointFormat.SAFETENSORS);
        CheckpointDirectory folder = CheckpointDirectory.open(root, dir);
        PlaidParameters loaded = folder.loadWeights(c, new CpuBackend());
        List<float[]> live = trainer.parameters().snapshotValues();
        assertThat(java.util.stream.IntStream.range(0, live.size())
                        .filter(i -> !Arrays.equals(loaded.snapshotValues().get(i), live.get(i))))
                .as("parameters whose EMA differs from the live value")
                .isNotEmpty();
        folder.useLiveWeights(loaded);
        for (int i = 0; i < loaded.all().size(); i++)
            assertThat(loaded.snapshotValues().get(i)).containsExactly(live.get(i));
    }

    @Test
    void aStepFolderLinkedOutsideTheRootIsRefused() throws IOException {
        checkpoint("run/step-3");
        Files.createSymbolicLink(root.resolve("run/step-5"), outside.resolve("weights"));
        assertRefused(
                () -> CheckpointDirectory.open(root, root.resolve("run")).newestStep(),
                "run/step-5 leads outside the root through a link");
    }

    @Test
    void aFolderLinkedOutsideTheRootIsRefused() throws IOException {
        Files.createSymbolicLink(root.resolve("elsewhere"), outside.resolve("weights"));
        assertRefused(
                () -> CheckpointDirectory.open(root, root.resolve("elsewhere")),
                "elsewhere leads outside the root through a link");
    }

    @Test
    void configAndTokenizerLinkedOutsideAreRefusedWithoutQuotingThem() throws IOException {
        Path dir = checkpoint("linked");
        Files.delete(dir.resolve(CheckpointDirectory.CONFIG_FILE));
        Files.createSymbolicLink(dir.resolve(CheckpointDirectory.CONFIG_FILE), outside.resolve("secret.txt"));
        Files.createSymbolicLink(dir.resolve(CheckpointDirectory.TOKENIZER_FILE), outside.resolve("secret.txt"));
        CheckpointDirectory folder = CheckpointDirectory.open(root, dir);
        assertRefused(folder::configOptions, "linked/config.json leads outside the root through a link");
        assertRefused(folder::config, "linked/config.json leads outside the root through a link");
        assertRefused(folder::tokenizerFile, "linked/tokenizer.json leads outside the root through a link");
    }

    @Test
    void aWeightsFileLinkedOutsideIsRefused() throws IOException {
        Path dir = Files.createDirectories(root.resolve("w"));
        for (ParameterGroup group : ParameterGroup.values()) {
            String file = group.fileStem() + CheckpointFormat.SAFETENSORS.extension();
            Files.createSymbolicLink(
                    dir.resolve(file), outside.resolve("weights").resolve(file));
        }
        assertRefused(
                () -> CheckpointDirectory.open(root, dir).stateDicts(),
                "w/model.safetensors leads outside the root through a link");
    }

    @Test
    void aConfigThatIsNotJsonIsNamedByLineNotQuoted() throws IOException {
        Path dir = checkpoint("bad");
        Files.writeString(dir.resolve(CheckpointDirectory.CONFIG_FILE), "{\"dim\": " + SECRET + "}");
        assertRefused(
                () -> CheckpointDirectory.open(root, dir).configOptions(),
                "bad/config.json is not JSON (line 1, column");
    }

    @Test
    void aMissingWeightsFileIsNamedRelativeToTheRoot() throws IOException {
        Path dir = checkpoint("partial");
        Files.delete(dir.resolve("gamma_bounds.pt"));
        assertRefused(() -> CheckpointDirectory.open(root, dir).stateDicts(), "partial has no gamma_bounds.pt");
        Path empty = Files.createDirectories(root.resolve("empty"));
        assertRefused(
                () -> CheckpointDirectory.open(root, empty).stateDicts(), "empty has no model.pt or model.safetensors");
    }

    @Test
    void aCorruptWeightsFileIsReportedWithoutTheServersPaths() throws IOException {
        Path dir = checkpoint("corrupt");
        Files.writeString(dir.resolve("model.pt"), SECRET);
        assertThatThrownBy(() -> CheckpointDirectory.open(root, dir).stateDicts())
                .isInstanceOf(IOException.class)
                .hasMessageContaining("corrupt/model.pt")
                .satisfies(e -> assertThat(e.getMessage())
                        .doesNotContain(temp.toString(), temp.toRealPath().toString(), SECRET));
    }

    private void assertRefused(ThrowingCallable call, String message) throws IOException {
        assertThatThrownBy(call)
                .isInstanceOf(CheckpointDirectory.Unusable.class)
                .hasMessageContaining(message)
                .satisfies(e -> assertThat(e.getMessage())
                        .doesNotContain(
                                SECRET, temp.toString(), temp.toRealPath().toString()));
    }
}

package plaid.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import plaid.backend.cpu.CpuBackend;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.model.checkpoint.TorchCheckpoint;
import plaid.options.PlaidConfig;
import plaid.tensor.HostTensor;

class TrainingCheckpointTest {
    @TempDir
    Path tmp;

    private static Trainer newTrainer(PlaidConfig c, long initSeed) {
        PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), initSeed);
        return new Trainer(c, p, new RandomSource(5), TrainerTest.fixedBatch(c, 3), 0);
    }

    @ParameterizedTest
    @EnumSource(CheckpointFormat.class)
    void resumedRunIsBitIdenticalToAnUninterruptedOne(CheckpointFormat format) throws Exception {
        PlaidConfig c = TrainerTest.tinyConfig();
        c.ema = 0.9;
        Trainer uninterrupted = newTrainer(c, 1);
        double[] expected = new double[16];
        for (int s = 0; s < 16; s++) expected[s] = uninterrupted.step(s).loss();

        Trainer first = newTrainer(c, 1);
        for (int s = 0; s < 12; s++) first.step(s);
        Path dir = tmp.resolve("ckpt");
        TrainingCheckpoint.save(first, 11, dir, format);
        assertThat(Files.exists(dir.resolve("model" + format.extension()))).isTrue();
        var options = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(dir.resolve(CheckpointDirectory.CONFIG_FILE).toFile());
        assertThat(options.get("dim").asInt()).isEqualTo(c.dim);
        assertThat(options.get("n_blocks").asInt()).isEqualTo(c.nBlocks);
        assertThat(options.get("gamma_0").asDouble()).isEqualTo(c.gamma0);

        Trainer resumed = newTrainer(c, 99); // other init: everything must come from the checkpoint
        int next = TrainingCheckpoint.restore(resumed, CheckpointDirectory.open(dir));
        assertThat(next).isEqualTo(12);
        List<float[]> a = first.parameters().snapshotValues(),
                b = resumed.parameters().snapshotValues();
        for (int i = 0; i < a.size(); i++) assertThat(b.get(i)).containsExactly(a.get(i));
        for (int s = next; s < 16; s++)
            assertThat(resumed.step(s).loss()).as("loss at step %d", s).isEqualTo(expected[s]);
    }

    @ParameterizedTest
    @EnumSource(CheckpointFormat.class)
    void weightsRoundTripBitIdenticalAndGiveTheSameLoss(CheckpointFormat format) throws Exception {
        PlaidConfig c = TrainerTest.tinyConfig();
        Trainer t = newTrainer(c, 2);
        for (int s = 0; s < 3; s++) t.step(s);
        TrainingCheckpoint.saveWeights(t.parameters(), tmp, format);
        PlaidParameters loaded = CheckpointDirectory.open(tmp).loadWeights(c, new CpuBackend());
        List<float[]> a = t.parameters().snapshotValues(), b = loaded.snapshotValues();
        for (int i = 0; i < a.size(); i++) assertThat(b.get(i)).containsExactly(a.get(i));
        assertThat(loaded.rotaryInvFreq()).containsExactly(t.parameters().rotaryInvFreq());

        var mb = DiffusionObjective.evalMicroBatch(
                TrainerTest.fixedBatch(c, 4).next(c.batchSize, c.seqLen),
                c.batchSize,
                c.seqLen,
                c.embedDim,
                new java.util.SplittableRandom(8));
        double before =
                new DiffusionObjective(c, t.parameters()).evaluate(mb, false).loss();
        double after = new DiffusionObjective(c, loaded).evaluate(mb, false).loss();
        assertThat(after).isEqualTo(before);
    }

    @Test
    void aShapeThatDoesNotFitTheConfigIsNamed() throws Exception {
        PlaidConfig c = TrainerTest.tinyConfig();
        TrainingCheckpoint.saveWeights(PlaidParameters.initialize(c, new CpuBackend(), 1), tmp, CheckpointFormat.TORCH);
        PlaidConfig wider = c.copy();
        wider.dim = 64;
        wider.nHeads = 4; // same head dim, so the first misfit is a weight
        assertThatThrownBy(() -> CheckpointDirectory.open(tmp).loadWeights(wider, new CpuBackend()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("model.input_linear.weight")
                .hasMessageContaining("[32, 16]");
    }

    @Test
    void aMissingTensorIsNamed() throws Exception {
        PlaidConfig c = TrainerTest.tinyConfig();
        TrainingCheckpoint.saveWeights(PlaidParameters.initialize(c, new CpuBackend(), 1), tmp, CheckpointFormat.TORCH);
        var dict = TorchCheckpoint.read(tmp.resolve("model.pt"));
        dict.remove("output_norm.weight");
        TorchCheckpoint.write(tmp.resolve("model.pt"), dict);
        assertThatThrownBy(() -> CheckpointDirectory.open(tmp).loadWeights(c, new CpuBackend()))
                .hasMessageContaining("missing tensor model.output_norm.weight");
    }

    @Test
    void aMissingModuleFileIsNamed() throws Exception {
        PlaidConfig c = TrainerTest.tinyConfig();
        TrainingCheckpoint.saveWeights(
                PlaidParameters.initialize(c, new CpuBackend(), 1), tmp, CheckpointFormat.SAFETENSORS);
        Files.delete(tmp.resolve("gamma_bounds.safetensors"));
        assertThatThrownBy(() -> CheckpointDirectory.open(tmp).loadWeights(c, new CpuBackend()))
                .hasMessageContaining("gamma_bounds.safetensors");
    }

    @Test
    void theOriginalsScalarBoundsSurviveARoundTrip() throws Exception {
        PlaidConfig c = TrainerTest.tinyConfig();
        TrainingCheckpoint.saveWeights(PlaidParameters.initialize(c, new CpuBackend(), 1), tmp, CheckpointFormat.TORCH);
        HostTensor g0 = TorchCheckpoint.read(tmp.resolve("gamma_bounds.pt")).get("gamma_0");
        assertThat(g0.shape()).isEmpty();
        assertThat(g0.scalar()).isEqualTo(-3.0);
    }
}

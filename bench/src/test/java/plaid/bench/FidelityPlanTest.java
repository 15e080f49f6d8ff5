package plaid.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import plaid.backend.cpu.CpuBackend;
import plaid.model.Trainer;

/** The fidelity run's fixed batches (FidelityPlan) and, at a tiny shape on the CPU, FidelityRun end to end. */
class FidelityPlanTest {
    private static final int SEQ = 16, CHUNK = FidelityPlan.WINDOWS_PER_CHUNK * SEQ;

    @Test
    void heldOutWindowsAreDistinctAlignedAndNeverOverlapATrainingWindow() {
        int tokens = 20 * CHUNK + 7;
        var w = FidelityPlan.draw(tokens, SEQ, 50, 8, 4, 8, 0.2, 5);
        assertThat(w.train()).hasSize(400);
        assertThat(w.validation()).hasSize(32).doesNotHaveDuplicates();
        assertThat(Arrays.stream(w.validation()).allMatch(s -> s % SEQ == 0)).isTrue();
        boolean[] heldOutChunk = new boolean[20];
        for (int s : w.validation()) heldOutChunk[s / CHUNK] = true;
        assertThat(IntStream.range(0, 20).filter(i -> heldOutChunk[i]).count()).isLessThanOrEqualTo(4);
        for (int s : w.train()) {
            assertThat(s + SEQ).isLessThanOrEqualTo(20 * CHUNK);
            // a training window lies inside one chunk, and that chunk is not held out
            assertThat(s / CHUNK).isEqualTo((s + SEQ - 1) / CHUNK);
            assertThat(heldOutChunk[s / CHUNK]).isFalse();
        }
    }

    @Test
    void theSeedFixesTheWindows() {
        var a = FidelityPlan.draw(10 * CHUNK, SEQ, 20, 4, 4, 2, 0.3, 1);
        var b = FidelityPlan.draw(10 * CHUNK, SEQ, 20, 4, 4, 2, 0.3, 1);
        var c = FidelityPlan.draw(10 * CHUNK, SEQ, 20, 4, 4, 2, 0.3, 2);
        assertThat(a.train()).isEqualTo(b.train());
        assertThat(a.validation()).isEqualTo(b.validation());
        assertThat(a.train()).isNotEqualTo(c.train());
    }

    @Test
    void refusesMoreHeldOutWindowsThanTheHeldOutChunksHold() {
        assertThatThrownBy(() -> FidelityPlan.draw(10 * CHUNK, SEQ, 20, 4, 64, 2, 0.2, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("val_batches × val_batch_size = 128")
                .hasMessageContaining("hold 32");
        assertThatThrownBy(() -> FidelityPlan.draw(CHUNK + 3, SEQ, 20, 4, 4, 2, 0.2, 1))
                .hasMessageContaining("seq_len 16");
    }

    @Test
    void batchesComeInStepOrderAndTheHeldOutOnesCycle(@TempDir Path dir) throws IOException {
        int[] tokens = IntStream.range(0, 4 * CHUNK).toArray(); // id = position: a batch shows its windows
        Path tokenFile = dir.resolve("tokens.i32");
        FidelityPlan.writeInts(tokenFile, tokens);
        var windows = FidelityPlan.draw(tokens.length, SEQ, 3, 2, 2, 2, 0.5, 9);
        Map<String, String> train = Map.of("seq_len", "16", "batch_size", "2", "steps", "3", "val_batch_size", "2");
        Map<String, String> harness = Map.of("tokens", tokenFile.toString(), "val_batches", "2", "seed", "9");
        FidelityPlan.write(dir.resolve("plan"), train, harness, windows);
        FidelityPlan plan = FidelityPlan.read(dir.resolve("plan"));
        assertThat(plan.trainOptions()).isEqualTo(train);

        Trainer.BatchSource source = plan.trainBatches();
        for (int step = 0; step < 3; step++) {
            int[] batch = source.next(2, SEQ);
            for (int row = 0; row < 2; row++) {
                assertThat(batch[row * SEQ]).isEqualTo(windows.train()[step * 2 + row]);
                assertThat(batch[row * SEQ + SEQ - 1]).isEqualTo(windows.train()[step * 2 + row] + SEQ - 1);
            }
        }
        assertThatThrownBy(() -> source.next(2, SEQ)).hasMessageContaining("3 training batches");
        assertThatThrownBy(() -> plan.trainBatches().next(3, SEQ))
                .hasMessageContaining("batch_size × seq_len is 2 × 16");

        Trainer.BatchSource held = plan.validationBatches(0);
        List<int[]> pass = List.of(held.next(2, SEQ), held.next(2, SEQ), held.next(2, SEQ));
        assertThat(pass.get(0)[0]).isEqualTo(windows.validation()[0]);
        assertThat(pass.get(1)[SEQ]).isEqualTo(windows.validation()[3]);
        assertThat(pass.get(2)).isEqualTo(pass.get(0));
    }

    @Test
    void trainsAndValidatesATinyShapeOnTheCpuEndToEnd(@TempDir Path dir) throws IOException {
        Path tokenFile = dir.resolve("tokens.i32");
        FidelityPlan.writeInts(
                tokenFile, new SplittableRandom(3).ints(6 * CHUNK, 0, 500).toArray());
        Path run = dir.resolve("run");
        FidelityRun.plan(FidelityRun.flags(List.of(
                "--tokens=" + tokenFile,
                "--out=" + run,
                "--dim=16",
                "--n_blocks=1",
                "--n_heads=2",
                "--seq_len=" + SEQ,
                "--batch_size=8",
                "--steps=4",
                "--hook_freq=2",
                "--val_batch_size=8",
                "--val_batches=2")));
        assertThat(Files.readString(run.resolve(FidelityPlan.SPEC)))
                .contains(
                        "train.lr_warmup_steps=0\n",
                        "train.lr=0.0014\n",
                        "train.selfcond=true\n",
                        "train.embed_dim=16\n",
                        "fidelity.val_passes=2\n");
        try (var cpu = new CpuBackend()) {
            FidelityRun.train(run, cpu);
        }
        FidelityPlan plan = FidelityPlan.read(run);
        List<String[]> curve = Files.readAllLines(run.resolve("ours.tsv")).stream()
                .map(l -> l.split("\t"))
                .toList();
        assertThat(curve.stream().map(f -> f[0] + " " + f[1]))
                .containsExactlyInAnyOrder("digest val0", "digest train0", "val 2", "val 4", "final 4");
        long trainDigest = FidelityPlan.digest(plan.trainBatches().next(8, SEQ));
        assertThat(curve)
                .anySatisfy(f -> assertThat(f).containsExactly("digest", "train0", Long.toString(trainDigest)));
        for (String[] f : curve)
            if (!f[0].equals("digest"))
                assertThat(Double.parseDouble(f[2])).isFinite().isPositive();
    }

    @Test
    void planRefusesOptionsItDoesNotPassOnToBothSides() {
        assertThatThrownBy(() -> FidelityRun.plan(Map.of("tokens", "t", "out", "o", "grad_accum_steps", "2")))
                .hasMessageContaining("--grad_accum_steps is not passed on to both sides");
        assertThatThrownBy(() -> FidelityRun.plan(Map.of("tokens", "t", "out", "o", "diffusion_mode", "token")))
                .hasMessageContaining("--diffusion_mode is not passed on");
        assertThatThrownBy(() -> FidelityRun.plan(Map.of("tokens", "t", "out", "o", "learning_rate", "2")))
                .hasMessageContaining("learning_rate");
    }
}

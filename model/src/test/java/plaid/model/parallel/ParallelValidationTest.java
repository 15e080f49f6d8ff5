package plaid.model.parallel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import plaid.backend.ComputeBackend;
import plaid.backend.InProcessCollective;
import plaid.backend.cpu.CpuBackend;
import plaid.model.CheckpointDirectory;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.model.TrainingCheckpoint;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.options.PlaidConfig;

/**
 * Validation over 1, 2 and 4 in-process CPU ranks ({@link DataParallelTrainer#validationNll}:
 * batch i on rank i % N, the per-batch NLL sums all-reduced) against one device's {@link
 * Trainer#validationNll} on the same weights and EMA. The bound is 0: every batch is drawn as
 * one device draws it, its forward is the same computation on whichever CPU rank runs it, the
 * all-reduce only adds zeros to it, and the sums are added in batch order as one device adds them.
 */
class ParallelValidationTest {
    private static final int BATCHES = 5, ROWS = 3;
    private static final long EVAL_SEED = 7;
    /** |N ranks − one device| ≤ BOUND · |one device|. */
    private static final double BOUND = 0;

    @TempDir
    Path root;

    @Test
    void oneTwoAndFourRanksGiveTheOneDeviceNumber() throws IOException {
        PlaidConfig c = DataParallelTrainerTest.config(1);
        Path checkpoint = trainedCheckpoint(c);
        Trainer one = restored(c, new CpuBackend(), checkpoint);
        double expected = one.validationNll(DataParallelTrainerTest.stream(c, 21), BATCHES, ROWS, EVAL_SEED);
        // EMA on: validation uses the EMA weights, which after two steps are not the live ones.
        assertThat(one.optimizer().weightsForEvaluation().getFirst())
                .isNotEqualTo(one.parameters().snapshotValues().getFirst());

        for (int ranks : new int[] {1, 2, 4}) {
            try (DataParallelTrainer dp = parallel(c, ranks, checkpoint)) {
                List<float[]> before = dp.primary().parameters().snapshotValues();
                List<Integer> heard = new ArrayList<>();
                double nll =
                        dp.validationNll(DataParallelTrainerTest.stream(c, 21), BATCHES, ROWS, EVAL_SEED, heard::add);
                System.out.printf("validation on %d ranks: %.17g (one device %.17g)%n", ranks, nll, expected);
                assertThat(Math.abs(nll - expected))
                        .as("%d ranks: %s vs one device's %s", ranks, nll, expected)
                        .isLessThanOrEqualTo(BOUND * Math.abs(expected));
                assertThat(heard).containsExactly(1, 2, 3, 4, 5);
                for (Trainer t : dp.trainers()) assertLive(t, before);
            }
        }
    }

    @Test
    void aStopBetweenBatchesRestoresEveryRanksLiveWeights() throws IOException {
        PlaidConfig c = DataParallelTrainerTest.config(1);
        Path checkpoint = trainedCheckpoint(c);
        try (DataParallelTrainer dp = parallel(c, 2, checkpoint)) {
            List<float[]> before = dp.primary().parameters().snapshotValues();
            assertThatThrownBy(() -> dp.validationNll(DataParallelTrainerTest.stream(c, 21), 4, ROWS, 7, batches -> {
                        if (batches == 2) throw new IllegalStateException("stop");
                    }))
                    .hasMessage("stop");
            for (Trainer t : dp.trainers()) assertLive(t, before);
            // the group is still usable
            assertThat(dp.validationNll(DataParallelTrainerTest.stream(c, 21), 2, ROWS, 7, b -> {}))
                    .isPositive();
        }
    }

    private static void assertLive(Trainer t, List<float[]> expected) {
        List<float[]> now = t.parameters().snapshotValues();
        for (int i = 0; i < expected.size(); i++) assertThat(now.get(i)).containsExactly(expected.get(i));
    }

    /** Two steps on one device, saved with the optimiser's state (EMA included). */
    private Path trainedCheckpoint(PlaidConfig c) throws IOException {
        Trainer t = new Trainer(
                c,
                PlaidParameters.initialize(c, new CpuBackend(), 3),
                new RandomSource(5),
                DataParallelTrainerTest.stream(c, 9),
                -10);
        for (int s = 0; s < 2; s++) t.step(s);
        Path dir = root.resolve("step-2");
        TrainingCheckpoint.save(t, 1, dir, CheckpointFormat.TORCH);
        return dir;
    }

    private static Trainer restored(PlaidConfig c, ComputeBackend backend, Path checkpoint) throws IOException {
        Trainer t = new Trainer(
                c,
                PlaidParameters.initialize(c, backend, 1),
                new RandomSource(5),
                DataParallelTrainerTest.stream(c, 9),
                0);
        TrainingCheckpoint.restore(t, CheckpointDirectory.open(checkpoint));
        return t;
    }

    /** N ranks, each restored from the checkpoint, as the service resumes a job on N devices. */
    private static DataParallelTrainer parallel(PlaidConfig c, int ranks, Path checkpoint) throws IOException {
        List<ComputeBackend> backends = new ArrayList<>();
        List<PlaidParameters> replicas = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            CpuBackend b = new CpuBackend();
            backends.add(b);
            replicas.add(PlaidParameters.initialize(c, b, 1));
        }
        DataParallelTrainer dp = new DataParallelTrainer(
                c,
                replicas,
                InProcessCollective.group(backends),
                new RandomSource(5),
                DataParallelTrainerTest.stream(c, 9),
                0);
        for (Trainer t : dp.trainers()) TrainingCheckpoint.restore(t, CheckpointDirectory.open(checkpoint));
        return dp;
    }
}

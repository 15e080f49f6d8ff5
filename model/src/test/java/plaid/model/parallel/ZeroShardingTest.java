package plaid.model.parallel;

import static org.assertj.core.api.Assertions.assertThat;

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
import plaid.model.Optimizer;
import plaid.model.Parameter;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.model.TrainingCheckpoint;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.options.PlaidConfig;

/**
 * ZeRO-1 ({@link DataParallelTrainer#shardOptimizerState}) on 2 and 4 in-process CPU ranks
 * against the same ranks unsharded: each rank runs AdamW only on the parameters it owns and
 * broadcasts them, the same arithmetic on the same all-reduced gradients, so the metrics,
 * parameters, EMA and gathered optimiser state are bit-identical (bound 0), and a checkpoint of
 * the sharded run resumes it exactly. With grad accumulation, split rows, self-conditioning,
 * reconst_bs adaptation, EMA and decay-to-init on.
 */
class ZeroShardingTest {
    private static final int STEPS = 6, RESUME_AT = 3;

    @TempDir
    Path root;

    private record Group(DataParallelTrainer dp, List<PlaidParameters> replicas) {}

    /** {@code ranks} replicas of seed 3's weights; the batches from step {@code firstStep} on. */
    private static Group group(PlaidConfig c, int ranks, boolean zero, int firstStep) {
        List<ComputeBackend> backends = new ArrayList<>();
        List<PlaidParameters> replicas = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            CpuBackend b = new CpuBackend();
            backends.add(b);
            replicas.add(PlaidParameters.initialize(c, b, 3));
        }
        Trainer.BatchSource batches = DataParallelTrainerTest.stream(c, 9);
        for (int s = 0; s < firstStep * c.gradAccumSteps; s++) batches.next(c.batchSize, c.seqLen);
        var dp = new DataParallelTrainer(
                c, replicas, InProcessCollective.group(backends), new RandomSource(5), batches, -10, 16 << 10);
        if (zero) dp.shardOptimizerState();
        return new Group(dp, replicas);
    }

    @Test
    void shardedRanksTrainTheUnshardedRunBitForBit() {
        PlaidConfig c = DataParallelTrainerTest.config(2);
        for (int ranks : new int[] {2, 4}) {
            Group plain = group(c, ranks, false, 0), sharded = group(c, ranks, true, 0);
            try (var a = plain.dp();
                    var b = sharded.dp()) {
                long all = a.primary().optimizer().momentElements(), held = 0;
                for (Trainer t : b.trainers()) {
                    assertThat(t.optimizer().momentElements())
                            .as("one rank's share")
                            .isLessThan(all);
                    held += t.optimizer().momentElements();
                }
                assertThat(held).as("the shares cover every moment once").isEqualTo(all);

                for (int s = 0; s < STEPS; s++) {
                    Trainer.StepMetrics x = a.step(s).metrics(), y = b.step(s).metrics();
                    assertThat(y.loss()).as("%d ranks, step %d", ranks, s).isEqualTo(x.loss());
                    assertThat(y.gradNorm()).isEqualTo(x.gradNorm());
                    assertThat(y.reconstBs()).isEqualTo(x.reconstBs());
                }
                List<float[]> expected = plain.replicas().getFirst().snapshotValues();
                for (PlaidParameters replica : sharded.replicas()) assertSameValues(replica.snapshotValues(), expected);
                assertSameState(b.checkpointState(), a.checkpointState());
            }
        }
    }

    @Test
    void aShardedCheckpointResumesTheShardedRun() throws IOException {
        PlaidConfig c = DataParallelTrainerTest.config(2);
        List<float[]> uninterrupted;
        try (var whole = group(c, 2, true, 0).dp()) {
            for (int s = 0; s < STEPS; s++) whole.step(s);
            uninterrupted = whole.primary().parameters().snapshotValues();
        }
        Path dir = root.resolve("step-" + RESUME_AT);
        try (var first = group(c, 2, true, 0).dp()) {
            for (int s = 0; s < RESUME_AT; s++) first.step(s);
            TrainingCheckpoint.save(
                    first.primary(), first.checkpointState(), RESUME_AT - 1, dir, CheckpointFormat.TORCH);
        }
        Group resumed = group(c, 2, true, RESUME_AT);
        try (var second = resumed.dp()) {
            int next = 0;
            for (Trainer t : second.trainers()) next = TrainingCheckpoint.restore(t, CheckpointDirectory.open(dir));
            assertThat(next).isEqualTo(RESUME_AT);
            for (int s = next; s < STEPS; s++) second.step(s);
            for (PlaidParameters replica : resumed.replicas())
                assertSameValues(replica.snapshotValues(), uninterrupted);
        }
    }

    @Test
    void thePartitionBalancesTheRanksLargestFirst() {
        PlaidConfig c = DataParallelTrainerTest.config(1);
        List<Parameter> all = PlaidParameters.initialize(c, new CpuBackend(), 3).all();
        for (int ranks : new int[] {2, 4}) {
            int[] owners = DataParallelTrainer.partition(all, ranks);
            long[] load = new long[ranks];
            long largest = 0;
            for (int i = 0; i < all.size(); i++) {
                long n = all.get(i).value().numel();
                load[owners[i]] += n;
                largest = Math.max(largest, n);
            }
            long max = java.util.Arrays.stream(load).max().orElseThrow();
            long min = java.util.Arrays.stream(load).min().orElseThrow();
            // greedy to the least-loaded rank: no rank ends more than one parameter ahead of another
            assertThat(min).as("%d ranks: every rank owns some", ranks).isPositive();
            assertThat(max - min)
                    .as("%d ranks: %s", ranks, java.util.Arrays.toString(load))
                    .isLessThanOrEqualTo(largest);
        }
    }

    private static void assertSameValues(List<float[]> actual, List<float[]> expected) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.size(); i++) assertThat(actual.get(i)).containsExactly(expected.get(i));
    }

    private static void assertSameState(Optimizer.State actual, Optimizer.State expected) {
        assertThat(actual.adamSteps()).isEqualTo(expected.adamSteps());
        assertThat(actual.previousGradNorms()).containsExactly(expected.previousGradNorms());
        assertSameValues(actual.firstMoments(), expected.firstMoments());
        assertSameValues(actual.secondMoments(), expected.secondMoments());
        assertSameValues(actual.emaValues(), expected.emaValues());
        assertSameValues(actual.initValues(), expected.initValues());
    }
}

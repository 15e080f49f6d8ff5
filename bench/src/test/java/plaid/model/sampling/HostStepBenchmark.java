package plaid.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import plaid.backend.cpu.CpuBackend;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;
import plaid.text.BpeTokenizer;

/**
 * The host's parts of one serving step at the small shape's latent size (64 one-row requests × seq_len 256
 * × embed_dim 16), without the forward, which a device runs: the noise draws, the float32 casts for the
 * forward, x̂ into self-conditioning and the float64 update, the slicing of the argmax, and the
 * detokenizing of a partial decode of every row (with {@code owt2_tokenizer.json} under
 * {@code -Dplaid.data}). Each on one thread and forked over the trajectories as {@link SamplerBatch} runs
 * them; asserts both give the same latents.
 *
 * <p>Run: {@code ./mvnw -q test -pl bench -am -Dbench -Dtest=HostStepBenchmark -Dsurefire.failIfNoSpecifiedTests=false}
 */
@Tag("benchmark")
class HostStepBenchmark {
    private static final int ROWS = 64, SEQ_LEN = 256, EMBED_DIM = 16, STEPS = 24;

    @Test
    void hostPartsOfASmallShapeStep() throws Exception {
        PlaidConfig c = PlaidConfig.defaults();
        c.dim = 64;
        c.nBlocks = 1;
        c.nHeads = 2;
        c.vocabSize = 1024;
        c.embedDim = EMBED_DIM;
        c.seqLen = SEQ_LEN;
        PlaidParameters params = PlaidParameters.initialize(c.validate(), new CpuBackend(), 1);
        double[] bounds = params.gammaBounds();
        StepUpdate update = new StepUpdate(params.noiseSchedule(), bounds[0], bounds[1]);
        int perRow = SEQ_LEN * EMBED_DIM;
        float[] xModel = new float[ROWS * perRow];
        SplittableRandom random = new SplittableRandom(3);
        for (int k = 0; k < xModel.length; k++) xModel[k] = (float) random.nextGaussian();
        int[] firstRow = new int[ROWS];
        Arrays.setAll(firstRow, i -> i);
        System.out.printf(
                "host work of a step of %d one-row requests × seq_len %d × embed_dim %d, %d cores; ms a step%n",
                ROWS, SEQ_LEN, EMBED_DIM, Runtime.getRuntime().availableProcessors());

        List<double[]> latents = new ArrayList<>();
        for (boolean forked : new boolean[] {false, true}) {
            HostWork work = new HostWork(forked ? HostWork.DEFAULT_MIN_ELEMENTS : Integer.MAX_VALUE);
            List<Trajectory> members = trajectories();
            float[] zf = new float[xModel.length], sc = new float[xModel.length];
            long noise = 0, cast = 0, step = 0;
            for (int s = 0; s < STEPS; s++) {
                if (s == STEPS / 2) noise = cast = step = 0; // the first half warms up
                long t0 = System.nanoTime();
                work.castForForward(members, firstRow, perRow, zf, sc);
                long t1 = System.nanoTime();
                work.forEach(members, i -> members.get(i).drawStepNoise());
                long t2 = System.nanoTime();
                work.forEach(members, i -> {
                    Trajectory t = members.get(i);
                    System.arraycopy(xModel, firstRow[i] * perRow, t.selfCond, 0, t.selfCond.length);
                    update.apply(t, xModel, null, firstRow[i] * perRow);
                    t.advance();
                });
                long t3 = System.nanoTime();
                cast += t1 - t0;
                noise += t2 - t1;
                step += t3 - t2;
            }
            double n = STEPS / 2 * 1e6;
            System.out.printf(
                    "%-28s cast for the forward %.2f, noise %.2f, self-cond + update %.2f%n",
                    forked ? "forked over trajectories:" : "one thread:", cast / n, noise / n, step / n);
            double[] all = new double[xModel.length];
            for (int i = 0; i < ROWS; i++) System.arraycopy(members.get(i).z, 0, all, i * perRow, perRow);
            latents.add(all);
        }
        assertThat(latents.get(1)).as("forked latents").isEqualTo(latents.get(0));

        int[] best = new int[ROWS * SEQ_LEN];
        Arrays.setAll(best, k -> random.nextInt(c.vocabSize));
        long t0 = System.nanoTime();
        int[][] tokens = new int[ROWS][];
        for (int rep = 0; rep < 100; rep++)
            for (int b = 0; b < ROWS; b++) tokens[b] = Arrays.copyOfRange(best, b * SEQ_LEN, (b + 1) * SEQ_LEN);
        System.out.printf("slicing the argmax into rows: %.3f%n", (System.nanoTime() - t0) / 100 / 1e6);

        Path file = Path.of(System.getProperty("plaid.data", "../shared/data")).resolve("owt2_tokenizer.json");
        if (Files.exists(file)) {
            BpeTokenizer tokenizer = BpeTokenizer.load(file);
            for (int b = 0; b < ROWS; b++) Arrays.setAll(tokens[b], k -> random.nextInt(32768));
            long chars = 0, start = 0;
            for (int rep = 0; rep < 40; rep++) {
                if (rep == 20) start = System.nanoTime();
                for (int[] row : tokens) chars += tokenizer.decode(row, true).length();
            }
            System.out.printf(
                    "detokenizing a partial decode of every row (the service's listener work): %.2f (%d chars)%n",
                    (System.nanoTime() - start) / 20 / 1e6, chars);
        }
    }

    private static List<Trajectory> trajectories() {
        List<Trajectory> members = new ArrayList<>();
        for (int i = 0; i < ROWS; i++)
            members.add(new Trajectory(
                    SamplingRequest.defaults(SEQ_LEN).withSamples(1).withSteps(256),
                    NoiseSource.seeded(i),
                    EMBED_DIM,
                    1,
                    (step, tokens) -> {}));
        return members;
    }
}

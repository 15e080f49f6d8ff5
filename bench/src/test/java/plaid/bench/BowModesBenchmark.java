package plaid.bench;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import plaid.backend.cpu.CpuBackend;
import plaid.model.DiffusionObjective;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.options.PlaidConfig;

/**
 * Figures, not a pass/fail test: validation NLL before and after a short CPU training run of each of the
 * fork's mode families (and token mode) on the same tiny model and data, printed as the markdown rows of
 * docs/bow-modes.md. Run: {@code ./mvnw -q test -pl bench -am -Dbench -Dtest=BowModesBenchmark -Dsurefire.failIfNoSpecifiedTests=false}
 * ({@code -Dplaid.bench.steps=N}, default 600).
 */
@Tag("benchmark")
class BowModesBenchmark {
    /** A mode with the options the seed's command lines give it. */
    private record Run(String mode, double rho, double reconstWeight, double secondaryWeight) {}

    @Test
    void validationNllPerMode() {
        int steps = Integer.getInteger("plaid.bench.steps", 600);
        List<Run> runs = List.of(
                new Run("token", 0, 1, 0),
                new Run("BoW_embedding", 0, 1, 0),
                new Run("BoW_embedding", 0.5, 1, 0),
                new Run("BoW_embedding_no_rescale", 0.5, 1, 0),
                new Run("BoW_embedding_reconst_first_pred_x0", 0, 1, 0),
                new Run("BoW_embedding_reconst_first_no_rescale_diff_lm_norms", 0.5, 1, 0),
                new Run("BoW_embedding_double_logit_reg", 0, 0.83, 0.31),
                new Run("BoW_embedding_pred_x0_logits_direct_primary_double_logit_reg", 0, 1, 0.1),
                new Run("BoW_embedding_pred_x0_logits_direct_primary_double_logit_reg", 0.5, 1, 0.1),
                new Run("BoW_embedding_pred_x0_logits_direct_primary_double_logit_reg_norm_ret_embeddings", 0, 1, 0.1));
        System.out.println(
                "| diffusion_mode | BoW_cumsum_gamma | reconst_weight | reconst_secondary_weight | NLL at step 0 | NLL at step "
                        + steps + " |");
        System.out.println("|---|---|---|---|---|---|");
        for (Run run : runs) {
            PlaidConfig c = tinyConfig();
            c.diffusionMode = run.mode();
            c.bowCumsumGamma = run.rho();
            c.reconstWeight = run.reconstWeight();
            c.reconstSecondaryWeight = run.secondaryWeight();
            c.steps = steps;
            c.validate();
            PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 3);
            SplittableRandom data = new SplittableRandom(4);
            Trainer trainer =
                    new Trainer(c, p, new RandomSource(3), (rows, seqLen) -> countingRows(data, c, rows, seqLen), 0);
            int[] validation = countingRows(new SplittableRandom(99), c, c.batchSize, c.seqLen);
            double before = validationNll(trainer.objective(), c, validation);
            for (int step = 0; step < steps; step++) trainer.step(step);
            double after = validationNll(trainer.objective(), c, validation);
            System.out.printf(
                    "| %s | %s | %s | %s | %.3f | %.3f |%n",
                    run.mode(),
                    run.rho(),
                    run.reconstWeight(),
                    run.mode().contains("double_logit_reg") ? String.valueOf(run.secondaryWeight()) : "–",
                    before,
                    after);
        }
    }
    /** The tiny model of the model module's trainer tests (D 32, L 2, H 2, V 64, seq 16, batch 8). */
    private static PlaidConfig tinyConfig() {
        PlaidConfig c = PlaidConfig.defaults();
        c.dim = 32;
        c.nBlocks = 2;
        c.nHeads = 2;
        c.vocabSize = 64;
        c.embedDim = 16;
        c.seqLen = 16;
        c.batchSize = 8;
        c.steps = 300;
        c.lrWarmupSteps = 20;
        c.biasWarmupSteps = 50;
        c.lr = 2e-3;
        return c.validate();
    }

    /** Rows counting up from a random token: data a model can learn in a few hundred steps. */
    private static int[] countingRows(SplittableRandom rng, PlaidConfig c, int rows, int seqLen) {
        int[] tokens = new int[rows * seqLen];
        for (int r = 0; r < rows; r++) {
            int start = rng.nextInt(c.vocabSize);
            for (int n = 0; n < seqLen; n++) tokens[r * seqLen + n] = (start + n) % c.vocabSize;
        }
        return tokens;
    }

    /** Mean eval-mode NLL over a fixed set of draws, so two calls differ only by the weights. */
    private static double validationNll(DiffusionObjective objective, PlaidConfig c, int[] tokens) {
        SplittableRandom rng = new SplittableRandom(7);
        int draws = 8;
        double sum = 0;
        for (int i = 0; i < draws; i++) {
            sum += objective
                    .evaluate(DiffusionObjective.evalMicroBatch(tokens, c.batchSize, c.seqLen, c.embedDim, rng), false)
                    .nll();
        }
        return sum / draws;
    }
}

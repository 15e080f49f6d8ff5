package plaid.model;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import plaid.backend.cpu.CpuBackend;
import plaid.options.PlaidConfig;

/**
 * Figures, not a pass/fail test: validation NLL before and after a short CPU training run of each of the
 * fork's mode families (and token mode) on the same tiny model and data, printed as the markdown rows of
 * docs/bow-modes.md. Run: {@code ./mvnw -q test -pl model -Dbench -Dtest=BowModesBenchmark}
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
        System.out.println("| diffusion_mode | BoW_cumsum_gamma | reconst_weight | reconst_secondary_weight | NLL at step 0 | NLL at step " + steps + " |");
        System.out.println("|---|---|---|---|---|---|");
        for (Run run : runs) {
            PlaidConfig c = TrainerTest.tinyConfig();
            c.diffusionMode = run.mode();
            c.bowCumsumGamma = run.rho();
            c.reconstWeight = run.reconstWeight();
            c.reconstSecondaryWeight = run.secondaryWeight();
            c.steps = steps;
            c.validate();
            PlaidParameters p = PlaidParameters.initialize(c, new CpuBackend(), 3);
            SplittableRandom data = new SplittableRandom(4);
            Trainer trainer = new Trainer(p, new RandomSource(3), (rows, seqLen) -> BowEmbeddingObjectiveTest.countingRows(data, c, rows, seqLen), 0);
            int[] validation = BowEmbeddingObjectiveTest.countingRows(new SplittableRandom(99), c, c.batchSize, c.seqLen);
            double before = BowEmbeddingObjectiveTest.validationNll(trainer.objective(), c, validation);
            for (int step = 0; step < steps; step++) trainer.step(step);
            double after = BowEmbeddingObjectiveTest.validationNll(trainer.objective(), c, validation);
            System.out.printf("| %s | %s | %s | %s | %.3f | %.3f |%n", run.mode(), run.rho(), run.reconstWeight(),
                    run.mode().contains("double_logit_reg") ? String.valueOf(run.secondaryWeight()) : "–", before, after);
        }
    }
}

package plaid.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;
import plaid.options.OptionRefusal;
import plaid.options.OutOfRangeFlags;
import plaid.options.PlaidConfig;
import plaid.v1.Job;
import plaid.v1.JobState;
import plaid.v1.TrainingSpec;
import plaid.v1.ValidationResult;

class TrainCommandTest {

    @Test
    void acceptsTheOriginalsFlagsInBothSpellings() {
        TrainingSpec spec = spec(
                "demo",
                3,
                List.of(
                        "--grad_accum_steps=2",
                        "--dim",
                        "512",
                        "--n_heads=8",
                        "--lr=1e-3",
                        "--selfcond=False",
                        "--beta2=0.95",
                        "--hook_freq=100"));
        assertThat(spec.getCorpus()).isEqualTo("demo");
        assertThat(spec.getSeed()).isEqualTo(3);
        assertThat(spec.getOptimization().getGradAccumSteps()).isEqualTo(2);
        assertThat(spec.getShape().getDim()).isEqualTo(512);
        assertThat(spec.getOptimization().getLr()).isEqualTo(1e-3);
        assertThat(spec.getShape().hasSelfConditioning()).isTrue();
        assertThat(spec.getShape().getSelfConditioning()).isFalse();
        assertThat(spec.getOptimization().getBeta2()).isEqualTo(0.95);
        assertThat(spec.getReporting().getHookFreq()).isEqualTo(100);
        assertThat(spec.getShape().hasNBlocks())
                .as("unset options stay unset: the service applies train.py's defaults")
                .isFalse();
    }

    @Test
    void namesTheBadOption() {
        assertThatThrownBy(() -> spec("demo", 0, List.of("--no_such_option=1")))
                .hasMessage("unknown option --no_such_option");
        assertThatThrownBy(() -> spec("demo", 0, List.of("--dim=wide")))
                .hasMessageContaining("--dim")
                .hasMessageContaining("'wide'");
        assertThatThrownBy(() -> spec("demo", 0, List.of("--lr"))).hasMessage("option --lr needs a value");
    }

    @Test
    void theForksFlagsFillTheirFields() {
        TrainingSpec spec = spec(
                null,
                0,
                List.of(
                        "--diffusion_mode=BoW_embedding_reconst_first_pred_x0",
                        "--BoW_cumsum_gamma=0.5",
                        "--lr_scheduler=cosine",
                        "--model_save_path=saves/a",
                        "--wandb_run_name=a",
                        "--debug=True",
                        "--weights_path=w"));
        assertThat(spec.getCorpus()).as("train.py's default dataset").isEqualTo(TrainCommand.Submit.DEFAULT_CORPUS);
        assertThat(spec.getShape().getDiffusionMode()).isEqualTo("BoW_embedding_reconst_first_pred_x0");
        assertThat(spec.getShape().getBowCumsumGamma()).isEqualTo(0.5);
        assertThat(spec.getOptimization().getLrScheduler()).isEqualTo("cosine");
        assertThat(spec.getReporting().getModelSavePath()).isEqualTo("saves/a");
        assertThat(spec.getReporting().getWandbRunName()).isEqualTo("a");
        assertThat(spec.getReporting().getDebug()).isTrue();
        assertThat(spec.getWeightsFrom())
                .as("train.py's weights_path: fine-tuning")
                .isEqualTo("w");
        assertThat(spec(null, 0, List.of("--dataset=demo")).getCorpus()).isEqualTo("demo");
        assertThatThrownBy(() -> spec("demo", 0, List.of("--dataset=wikitext2")))
                .hasMessageContaining("--dataset");
    }

    @Test
    void stepsZeroIsTheEvaluationOnlyRun() {
        TrainCommand.Run run = TrainCommand.run(
                null,
                4,
                List.of(
                        "--weights_path=plaid1b",
                        "--dim=2048",
                        "--n_blocks=24",
                        "--n_heads=32",
                        "--seq_len=1024",
                        "--dataset=wikitext2",
                        "--val_batch_size=1",
                        "--steps=0"));
        assertThat(run).isInstanceOfSatisfying(TrainCommand.Evaluation.class, e -> {
            assertThat(e.request().getCheckpoint()).isEqualTo("plaid1b");
            assertThat(e.request().getDataset()).isEqualTo("wikitext2");
            assertThat(e.request().getBatchSize()).isEqualTo(1);
            assertThat(e.request().getSeqLen()).isEqualTo(1024);
            assertThat(e.request().getSeed()).isEqualTo(4);
            assertThat(e.config().dim).isEqualTo(2048);
        });
        assertThatThrownBy(() -> TrainCommand.run(null, 0, List.of("--steps=0", "--dataset=wikitext2")))
                .hasMessageContaining("--weights_path");
        assertThatThrownBy(() -> TrainCommand.run(null, 0, List.of("--steps=0", "--weights_path=w")))
                .hasMessageContaining("--dataset");
    }

    @Test
    void badForkValuesAreRefusedByTheirFlag() {
        assertThatThrownBy(() ->
                        spec(null, 0, List.of("--diffusion_mode=BoW_embedding_reconst_frist", "--BoW_cumsum_gamma=0")))
                .hasMessageStartingWith("option --diffusion_mode: ")
                .hasMessageContaining("unknown word 'reconst_frist'")
                .hasMessageContaining("Valid words");
        assertThatThrownBy(() -> spec(null, 0, List.of("--diffusion_mode=BoW_embedding")))
                .hasMessageStartingWith("option --BoW_cumsum_gamma");
        assertThatThrownBy(() -> spec(null, 0, List.of("--diffusion_mode=BoW_embedding", "--BoW_cumsum_gamma=1.5")))
                .hasMessageStartingWith("option --BoW_cumsum_gamma");
        assertThatThrownBy(() -> spec(null, 0, List.of("--lr_scheduler=step")))
                .hasMessage("option --lr_scheduler: must be linear or cosine, got step");
        assertThatThrownBy(() -> spec(null, 0, List.of("--diffusion_mode=[token|BoW|see", "options")))
                .hasMessageStartingWith("option --diffusion_mode: '[token|BoW|see' is a placeholder");
    }

    /** The exit code and what went to System.out (where the commands print their results) of one plaid command line. */
    private record Execution(int code, String stdout) {}

    private static Execution execute(String... args) {
        java.io.ByteArrayOutputStream stdout = new java.io.ByteArrayOutputStream();
        java.io.PrintStream previous = System.out;
        System.setOut(new java.io.PrintStream(stdout, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            var cl = PlaidCommand.commandLine();
            cl.setErr(new PrintWriter(new StringWriter()));
            return new Execution(cl.execute(args), stdout.toString(java.nio.charset.StandardCharsets.UTF_8));
        } finally {
            System.setOut(previous);
        }
    }

    @Test
    void validateOnlyPrintsTheResolvedOptionsAndContactsNoService() {
        Execution run = execute(
                "train",
                "submit",
                "--trainer",
                "127.0.0.1:1",
                "--validate-only",
                "--batch_size=128",
                "--diffusion_mode=BoW_embedding",
                "--BoW_cumsum_gamma=0.5");
        assertThat(run.code()).isZero();
        assertThat(run.stdout().strip())
                .isEqualTo(
                        "valid: training job on corpus 'openwebtext2': batch_size=128 diffusion_mode=BoW_embedding BoW_cumsum_gamma=0.5");
    }

    @Test
    void devicesGoIntoTheSpecAndMustDivideTheBatch() {
        Execution ok = execute(
                "train", "submit", "--trainer", "127.0.0.1:1", "--validate-only", "--devices", "4", "--batch_size=64");
        assertThat(ok.code()).isZero();
        assertThat(ok.stdout().strip())
                .isEqualTo("valid: training job on corpus 'openwebtext2' on 4 devices: batch_size=64");
        var training = (TrainCommand.Training)
                TrainCommand.withDevices(TrainCommand.run(null, 0, List.of("--batch_size=64")), 2);
        assertThat(training.spec().getDevices()).isEqualTo(2);
        assertThatThrownBy(() -> TrainCommand.withDevices(TrainCommand.run(null, 0, List.of("--batch_size=64")), 3))
                .hasMessage("option --devices=3 must divide batch_size 64 (each device takes an equal slice of every"
                        + " micro-batch)");
        assertThat(execute("train", "submit", "--validate-only", "--devices", "-1", "--batch_size=64")
                        .code())
                .isEqualTo(PlaidCommand.EXIT_USAGE);
    }

    @Test
    void zeroGoesIntoTheSpecAndIsZeroOrOne() {
        Execution ok = execute(
                "train",
                "submit",
                "--trainer",
                "127.0.0.1:1",
                "--validate-only",
                "--devices",
                "2",
                "--zero",
                "1",
                "--batch_size=64");
        assertThat(ok.code()).isZero();
        assertThat(ok.stdout().strip())
                .isEqualTo("valid: training job on corpus 'openwebtext2' on 2 devices with ZeRO-1: batch_size=64");
        var training =
                (TrainCommand.Training) TrainCommand.withZero(TrainCommand.run(null, 0, List.of("--batch_size=64")), 1);
        assertThat(training.spec().getZero()).isEqualTo(1);
        assertThatThrownBy(() -> TrainCommand.withZero(TrainCommand.run(null, 0, List.of("--batch_size=64")), 2))
                .hasMessage("option --zero must be 0 (off) or 1 (ZeRO-1: the AdamW moments sharded over the ranks),"
                        + " got 2");
        assertThat(execute("train", "submit", "--validate-only", "--zero", "3").code())
                .isEqualTo(PlaidCommand.EXIT_USAGE);
    }

    @Test
    void bareTrainWithTheOriginalsFlagsSubmitsAndWithoutAnyIsAUsageError() {
        Execution flags = execute(
                "train",
                "--trainer",
                "127.0.0.1:1",
                "--validate-only",
                "--grad_accum_steps=2",
                "--BoW_cumsum_gamma=0",
                "--diffusion_mode=BoW_embedding_double_logit_reg");
        assertThat(flags.code()).isZero();
        assertThat(flags.stdout())
                .contains("valid: training job")
                .contains("grad_accum_steps=2")
                .contains("diffusion_mode=BoW_embedding_double_logit_reg");
        assertThat(execute("train").code()).isEqualTo(PlaidCommand.EXIT_USAGE);
    }

    /**
     * Issue 21's out-of-range flags: --validate-only refuses each naming its flag, with the words
     * of the option table's refusal (trainer-svc's OptionRefusalsAgreeTest feeds the same flags to
     * SubmitJob).
     */
    @Test
    void outOfRangeFlagsAreRefusedByValidateOnlyNamingTheFlag() {
        List<String> tiny = List.of("--dim=32", "--n_heads=2", "--batch_size=8");
        for (List<String> flag : OutOfRangeFlags.OWN_RANGE) {
            PlaidConfig config = PlaidConfig.defaults()
                    .set("dim", "32")
                    .set("n_heads", "2")
                    .set("batch_size", "8")
                    .set(flag.get(0), flag.get(1));
            OptionRefusal expected =
                    org.assertj.core.api.Assertions.catchThrowableOfType(OptionRefusal.class, config::validate);
            assertThat(expected).as(flag.toString()).isNotNull();
            List<String> args = new java.util.ArrayList<>(tiny);
            args.add("--" + flag.get(0) + "=" + flag.get(1));
            assertThatThrownBy(() -> TrainCommand.run("demo", 0, args))
                    .as(flag.toString())
                    .hasMessage("option --" + flag.get(0) + ": " + expected.problem());
            Execution run = execute(java.util.stream.Stream.concat(
                            java.util.stream.Stream.of("train", "submit", "--validate-only"), args.stream())
                    .toArray(String[]::new));
            assertThat(run.code()).as(flag.toString()).isEqualTo(PlaidCommand.EXIT_USAGE);
        }
        assertThatThrownBy(() -> TrainCommand.run("demo", 0, List.of("--lr=NaN")))
                .hasMessage("option --lr: must be a number, got NaN");
        assertThatThrownBy(() -> TrainCommand.run("demo", 0, List.of("--beta_1=1")))
                .as("the field's spelling names the option")
                .hasMessage("option --beta1: must be in [0, 1), got 1.0");
    }

    @Test
    void helpListsTrainPysFlagsFromTheOptionTable() {
        StringWriter out = new StringWriter();
        var cl = PlaidCommand.commandLine();
        cl.getSubcommands().get("train").getSubcommands().get("submit").usage(new PrintWriter(out));
        assertThat(out.toString())
                .contains("train.py's flags")
                .contains("--lr=float (default 0.0014, in (0, 1000])")
                .contains("--beta1=float (default 0.9, in [0, 1))")
                .contains("--selfcond=bool (default True)")
                .contains("--BoW_cumsum_gamma=float")
                .contains("--weights_path=str")
                .doesNotContain("--use_secondary_logits");
        StringWriter sample = new StringWriter();
        cl.getSubcommands().get("sample").usage(new PrintWriter(sample));
        assertThat(sample.toString())
                .contains("--use_secondary_logits=bool")
                .contains("--diffusion_mode=str")
                .doesNotContain("--lr=");
    }

    private static TrainingSpec spec(String corpus, long seed, List<String> flags) {
        return ((TrainCommand.Training) TrainCommand.run(corpus, seed, flags)).spec();
    }

    @Test
    void exitCodesTellFailureAndAMissedThresholdApart() {
        Job ok = Job.newBuilder()
                .setId("j")
                .setState(JobState.JOB_STATE_SUCCEEDED)
                .setLatestValidation(ValidationResult.newBuilder().setNll(4.0))
                .build();
        assertThat(TrainCommand.verdict(ok, null)).isZero();
        assertThat(TrainCommand.verdict(ok, 4.5)).isZero();
        assertThat(TrainCommand.verdict(ok, 3.5)).isEqualTo(TrainCommand.EXIT_NLL_ABOVE_THRESHOLD);
        assertThat(TrainCommand.verdict(
                        ok.toBuilder().setState(JobState.JOB_STATE_FAILED).build(), null))
                .isEqualTo(PlaidCommand.EXIT_JOB_FAILED);
        // a diverged model's NLL never passes the gate, whatever the threshold
        for (double nonFinite : new double[] {Double.NaN, Double.POSITIVE_INFINITY}) {
            Job diverged = ok.toBuilder()
                    .setLatestValidation(ValidationResult.newBuilder().setNll(nonFinite))
                    .build();
            assertThat(TrainCommand.verdict(diverged, 7.0))
                    .as("NLL %s", nonFinite)
                    .isEqualTo(TrainCommand.EXIT_NLL_ABOVE_THRESHOLD);
            assertThat(TrainCommand.verdict(diverged, 1e300)).isEqualTo(TrainCommand.EXIT_NLL_ABOVE_THRESHOLD);
        }
    }

    @Test
    void anUnreachableServiceIsAMessageNotAStackTrace() {
        StringWriter err = new StringWriter();
        var cl = PlaidCommand.commandLine();
        cl.setErr(new PrintWriter(err));
        int code = cl.execute("train", "list", "--trainer", "127.0.0.1:1");
        assertThat(code).isEqualTo(PlaidCommand.EXIT_SERVICE);
        assertThat(err.toString()).contains("service unavailable").doesNotContain("\tat ");
    }

    @Test
    void demoRefusesTooFewSteps() {
        StringWriter err = new StringWriter();
        var cl = PlaidCommand.commandLine();
        cl.setErr(new PrintWriter(err));
        assertThat(cl.execute("demo", "--steps", "5")).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(err.toString()).contains("--steps must be at least 20");
    }
}

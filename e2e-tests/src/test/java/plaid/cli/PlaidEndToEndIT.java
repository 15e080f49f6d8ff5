package plaid.cli;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;
import plaid.v1.GetJobRequest;
import plaid.v1.TrainerServiceGrpc;

/**
 * The packaged services as processes on loopback (free ports, a temporary work dir), driven
 * through the {@code plaid} command in this JVM as a user or a CI job would drive them: one
 * tiny model trained once, then every command against it. In package {@code plaid.cli} to
 * reach the command line and {@link LocalStack}, which are not public API.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PlaidEndToEndIT {
    private static final String MODEL = "tiny";
    private static final String PREFIX = "The Commission";
    private static final int SAMPLES = 4;
    /** A model small enough that training, sampling and likelihood bounds take seconds on 2 cores. */
    private static final List<String> TINY_SHAPE = List.of(
            "--dim=32",
            "--n_blocks=2",
            "--n_heads=2",
            "--embed_dim=8",
            "--seq_len=16",
            "--vocab_size=512",
            "--batch_size=8",
            "--lr_warmup_steps=5",
            "--bias_warmup_steps=5",
            "--val_steps=2",
            "--val_batch_size=8",
            "--final_val_steps=2");

    @TempDir
    static Path work;

    private LocalStack stack;
    private LocalStack.CpuServices services;
    /** The output of training the model every other test uses; see {@link #trainSubmitWaitsForTheJobAndReportsItsValidationNll}. */
    private Run training;

    private String checkpoint;

    @BeforeAll
    void startTheStackAndTrainTheModel() throws IOException, InterruptedException {
        int[] ports = freePorts(3);
        // a few hundred documents, not the demo's 2000: the tokenizer is trained on them before the first step
        services = LocalStack.CpuServices.under(
                work,
                ports[0],
                ports[1],
                ports[2],
                List.of("trainer-svc.demo-documents=200", "trainer-svc.shuffle-buffer-chunks=64"));
        writeZeroShotFile(LocalStack.CpuServices.trainerRoot(work));
        stack = LocalStack.start(Path.of(System.getProperty("plaid.home")), work, services.all());

        training = plaid(trainSubmit(
                "--name=tiny",
                "--wait",
                "--steps=40",
                "--hook_freq=20",
                "--checkpoint_freq=20",
                "--keep_checkpoints=1"));
        checkpoint = training.lineAfter("checkpoint ");
    }

    @AfterAll
    void stopTheStack() {
        if (stack != null) stack.close();
    }

    @Test
    void trainSubmitWaitsForTheJobAndReportsItsValidationNll() {
        assertThat(training.exitCode()).as(training.toString()).isZero();
        String jobId = training.lines().getFirst();
        assertThat(training.out()).contains("job " + jobId + " succeeded, validation NLL ");
        assertThat(plaid("train", "list").lines())
                .anySatisfy(line ->
                        assertThat(line).startsWith(jobId).contains("SUCCEEDED").contains("40/40"));
    }

    @Test
    void cancelledJobEndsCancelled() {
        String jobId =
                plaid(trainSubmit("--name=cancelled", "--steps=100000")).lines().getFirst();

        assertThat(plaid("train", "cancel", jobId).exitCode()).isZero();

        Run watch = plaid("train", "watch", jobId);
        assertThat(watch.exitCode()).as(watch.toString()).isEqualTo(PlaidCommand.EXIT_JOB_FAILED);
        assertThat(watch.out()).contains("job " + jobId + " cancelled");
        assertThat(plaid("train", "list").lines())
                .anySatisfy(line -> assertThat(line).startsWith(jobId).contains("CANCELLED"));
    }

    @Test
    void jobOfAKilledTrainerFinishesAfterTheTrainerRestarts() throws IOException, InterruptedException {
        String jobId = plaid(trainSubmit("--name=crashed", "--steps=100", "--hook_freq=100", "--checkpoint_freq=20"))
                .lines()
                .getFirst();
        awaitFirstCheckpoint(jobId);

        stack.kill(services.trainer());
        stack.restart(services.trainer());

        Run watch = plaid("train", "watch", jobId);
        assertThat(watch.exitCode()).as(watch.toString()).isZero();
        assertThat(watch.out()).contains("resuming at step ").contains("job " + jobId + " succeeded");
    }

    /**
     * A job of the fork's mode submitted as the seed document writes it, then sampled as its
     * sample.py line does: the sampler reads the mode from the checkpoint's config.json.
     */
    @Test
    void aBowModeJobTrainsWithTheSeedsFlagsAndItsCheckpointSamples() {
        String save = "diffusion_hype_model_saves/BoW_embedding_reconst_first_pred_x0_g=0.5";
        Run bow = plaid(trainSubmit(
                "--wait",
                "--steps=6",
                "--hook_freq=6",
                "--model_save_path=" + save,
                "--wandb_run_name=bow_pred_x0",
                "--lr_scheduler=cosine",
                "--diffusion_mode=BoW_embedding_reconst_first_pred_x0",
                "--BoW_cumsum_gamma=0.5",
                "--debug=True"));
        assertThat(bow.exitCode()).as(bow.toString()).isZero();
        assertThat(bow.lineAfter("checkpoint ")).isEqualTo(save + "/step-6");
        assertThat(plaid("train", "list").lines())
                .anySatisfy(line -> assertThat(line).contains("SUCCEEDED").endsWith("bow_pred_x0"));

        Run sample = plaid(
                "sample",
                "--weights_path=" + save,
                "--seq_len=16",
                "--just_unconditional=True",
                "--samples",
                "2",
                "--steps",
                "10");
        assertThat(sample.exitCode()).as(sample.toString()).isZero();
        assertThat(sample.lines()).hasSize(2);

        Run secondary = plaid(
                "sample", "--weights_path=" + save, "--use_secondary_logits=True", "--samples", "2", "--steps", "10");
        assertThat(secondary.exitCode()).as(secondary.toString()).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(secondary.err())
                .contains("INVALID_ARGUMENT: use_secondary_logits needs a model with secondary logits")
                .contains("BoW_embedding_reconst_first_pred_x0");

        Run conflicting =
                plaid("sample", "--weights_path=" + save, "--BoW_cumsum_gamma=0", "--samples", "2", "--steps", "10");
        assertThat(conflicting.exitCode()).as(conflicting.toString()).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(conflicting.err())
                .contains(
                        "INVALID_ARGUMENT: shape.bow_cumsum_gamma is 0.0, but the checkpoint's config.json gives 0.5");
    }

    @Test
    void aBadDiffusionModeIsRefusedNamingTheField() {
        Run cli = plaid(trainSubmit("--diffusion_mode=BoW_embedding_reconst_frist", "--BoW_cumsum_gamma=0.5"));
        assertThat(cli.exitCode()).as(cli.toString()).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(cli.err()).contains("option --diffusion_mode: ").contains("unknown word 'reconst_frist'");

        try (Services.Connection connection =
                Services.connect(services.trainer().address(), null)) {
            var trainer = TrainerServiceGrpc.newBlockingStub(connection.channel());
            var spec = plaid.v1.TrainingSpec.newBuilder()
                    .setCorpus("demo")
                    .setShape(plaid.v1.ModelShape.newBuilder()
                            .setDiffusionMode("BoW_embedding_reconst_frist")
                            .setBowCumsumGamma(0.5))
                    .build();
            var refusal = org.junit.jupiter.api.Assertions.assertThrows(
                    io.grpc.StatusRuntimeException.class,
                    () -> trainer.submitJob(
                            plaid.v1.SubmitJobRequest.newBuilder().setSpec(spec).build()));
            assertThat(refusal.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.INVALID_ARGUMENT);
            assertThat(refusal.getStatus().getDescription())
                    .startsWith("spec.shape.diffusion_mode ")
                    .contains("Valid words");
        }
    }

    @Test
    void evalBoundsTheLikelihoodOfAZeroShotCorpus() {
        Run eval = plaid("eval", "--checkpoint", checkpoint, "--dataset", "ptb", "--max-sequences", "2");
        assertThat(eval.exitCode()).as(eval.toString()).isZero();
        assertThat(eval.out()).startsWith("ptb: NLL ").contains("word perplexity");
    }

    @Test
    void prefixGuidedSamplesMostlyStartWithThePrefix() {
        Run sample = sample(SAMPLES, "--prefix", PREFIX);
        assertThat(sample.exitCode()).as(sample.toString()).isZero();
        assertThat(sample.lines()).hasSize(SAMPLES);
        assertThat(sample.lines().stream().filter(text -> text.startsWith(PREFIX)))
                .as(sample.out())
                .hasSizeGreaterThanOrEqualTo(SAMPLES / 2);
    }

    static Stream<Arguments> guidanceForms() {
        return Stream.of(
                Arguments.of("unconditional", List.of()),
                Arguments.of("prefix", List.of("--prefix", PREFIX)),
                Arguments.of("infill", List.of("--infill", "The", "Council", "--gap", "4")),
                Arguments.of("lexical constraint", List.of("--contain", "Parliament")),
                Arguments.of("negation", List.of("--negate", "the")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("guidanceForms")
    void everyGuidanceFormPrintsTheSamplesAskedFor(String form, List<String> guidance) {
        Run sample = sample(SAMPLES, guidance.toArray(String[]::new));
        assertThat(sample.exitCode()).as(sample.toString()).isZero();
        assertThat(sample.lines()).hasSize(SAMPLES);
    }

    @Test
    void badSamplingRequestsExitWithUsageErrorNamingTheField() {
        Run noSamples = sample(-1);
        assertThat(noSamples.exitCode()).as(noSamples.toString()).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(noSamples.err()).contains("INVALID_ARGUMENT: samples must be in [1, ");

        Run tooLong = sample(SAMPLES, "--seq-len", "100000");
        assertThat(tooLong.exitCode()).as(tooLong.toString()).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(tooLong.err()).contains("INVALID_ARGUMENT: seq_len must be in [1, 16], got 100000");
    }

    @Test
    void scorePrintsABoundPerText() {
        Run score = plaid(
                "score",
                "--model",
                MODEL,
                "--checkpoint",
                checkpoint,
                "--draws",
                "4",
                PREFIX + " is here.",
                "the the the the");
        assertThat(score.exitCode()).as(score.toString()).isZero();
        assertThat(score.lines())
                .hasSize(2)
                .allSatisfy(line -> assertThat(line).matches("\\d+\\.\\d{4} nats/token over \\d+ tokens  .+"));
    }

    @Test
    void tokenizePrintsOneLineOfIdsPerText() throws IOException {
        // data-svc has no tokenizer of its own on a fresh root; it serves the model's, as a deployment would
        Files.copy(
                LocalStack.CpuServices.trainerRoot(work).resolve(checkpoint).resolve("tokenizer.json"),
                Files.createDirectories(LocalStack.CpuServices.dataRoot(work)).resolve("tokenizer.json"));
        Run tokenize = plaid("tokenize", PREFIX, "Parliament");
        assertThat(tokenize.exitCode()).as(tokenize.toString()).isZero();
        assertThat(tokenize.lines())
                .hasSize(2)
                .allSatisfy(line -> assertThat(line).matches("\\d+( \\d+)*"));
    }

    private Run sample(int samples, String... options) {
        List<String> args = new ArrayList<>(List.of(
                "sample",
                "--model",
                MODEL,
                "--checkpoint",
                checkpoint,
                "--samples",
                String.valueOf(samples),
                "--steps",
                "20",
                "--seed",
                "1"));
        args.addAll(List.of(options));
        return plaid(args.toArray(String[]::new));
    }

    private static String[] trainSubmit(String... options) {
        List<String> args = new ArrayList<>(List.of("train", "submit", "--corpus", "demo", "--seed", "1"));
        args.addAll(TINY_SHAPE);
        args.addAll(List.of(options));
        return args.toArray(String[]::new);
    }

    /** What one {@code plaid} command did: its exit code and what it printed. */
    record Run(int exitCode, String out, String err) {
        List<String> lines() {
            return out.lines().toList();
        }

        /** The rest of the first line of stdout starting with {@code start}. */
        String lineAfter(String start) {
            return lines().stream()
                    .filter(l -> l.startsWith(start))
                    .findFirst()
                    .map(l -> l.substring(start.length()))
                    .orElseThrow(() -> new AssertionError("no line starting with '" + start + "' in " + this));
        }
    }

    /**
     * Runs {@code plaid args...} against this stack. The commands print with System.out and
     * System.err, so both are swapped for the call; the tests run one at a time.
     */
    private Run plaid(String... args) {
        List<String> withAddresses = new ArrayList<>(List.of(args));
        withAddresses.addAll(List.of(
                "--data",
                services.data().address(),
                "--trainer",
                services.trainer().address(),
                "--sampler",
                services.sampler().address()));
        PrintStream stdout = System.out, stderr = System.err;
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        try (var outStream = new PrintStream(out, true, UTF_8);
                var errStream = new PrintStream(err, true, UTF_8)) {
            System.setOut(outStream);
            System.setErr(errStream);
            CommandLine commandLine = PlaidCommand.commandLine();
            commandLine.setOut(new PrintWriter(outStream, true));
            commandLine.setErr(new PrintWriter(errStream, true));
            int exitCode = commandLine.execute(withAddresses.toArray(String[]::new));
            commandLine.getOut().flush();
            commandLine.getErr().flush();
            return new Run(exitCode, out.toString(UTF_8), err.toString(UTF_8));
        } finally {
            System.setOut(stdout);
            System.setErr(stderr);
        }
    }

    /** The CLI shows no checkpoints of a running job, so this asks the trainer directly. */
    private void awaitFirstCheckpoint(String jobId) throws InterruptedException {
        try (Services.Connection connection =
                Services.connect(services.trainer().address(), null)) {
            var trainer = TrainerServiceGrpc.newBlockingStub(connection.channel());
            Instant deadline = Instant.now().plus(Duration.ofMinutes(1));
            while (trainer.getJob(GetJobRequest.newBuilder().setJobId(jobId).build())
                            .getCheckpointsCount()
                    == 0) {
                assertThat(Instant.now()).as("the job's first checkpoint").isBefore(deadline);
                Thread.sleep(100);
            }
        }
    }

    /** Penn Treebank's valid split as the trainer's EvaluateLikelihood reads it: ptb.valid.txt at the top of its root. */
    private static void writeZeroShotFile(Path trainerRoot) throws IOException {
        String sentences = """
                 the commission has adopted the proposal of the council
                 mr. president the parliament will vote on the report tomorrow
                 we must ensure that the member states apply the directive
                 the committee on budgets has examined the <unk> in detail
                """;
        Files.createDirectories(trainerRoot);
        Files.writeString(trainerRoot.resolve("ptb.valid.txt"), sentences.repeat(4));
    }

    private static int[] freePorts(int count) throws IOException {
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) sockets.add(new ServerSocket(0));
            return sockets.stream().mapToInt(ServerSocket::getLocalPort).toArray();
        } finally {
            for (ServerSocket s : sockets) s.close();
        }
    }
}

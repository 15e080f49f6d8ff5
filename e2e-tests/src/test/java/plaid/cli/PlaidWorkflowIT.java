package plaid.cli;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.github.luben.zstd.ZstdOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seed's workflow as a user runs it, each step a separate {@code plaid} process (the same
 * main class and JVM flags as ./plaid) against packaged services that {@code plaid up} leaves
 * running: up, data prepare of generated OWT2 archives, a train.py line with no corpus flag, eval
 * on WikiText-2, sample, a 4-trial sweep, down. Later steps use what earlier ones made, so the
 * steps run in order; a step whose input is missing is skipped, not failed twice.
 *
 * <p>The trainer reads data-svc's prepared corpus in place with the corpus's tokenizer, a copy of
 * data-svc's {@code tokenizer.json}: the original's OWT2 BPE, hence {@code --vocab_size=32768}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PlaidWorkflowIT {
    /** Small enough for seconds per step on 2 cores; the vocabulary is the corpus tokenizer's (the original's OWT2 BPE). */
    private static final List<String> SHAPE = List.of(
            "--grad_accum_steps=2",
            "--batch_size=8",
            "--dim=64",
            "--n_blocks=2",
            "--n_heads=2",
            "--embed_dim=16",
            "--seq_len=32",
            "--vocab_size=32768",
            "--lr_warmup_steps=2",
            "--bias_warmup_steps=2",
            "--print_freq=2",
            "--val_steps=2",
            "--val_batch_size=8",
            "--final_val_steps=2");

    private static final int ARCHIVES = 3, DOCUMENTS_PER_ARCHIVE = 100, VALIDATION_DOCUMENTS = 30;

    @TempDir
    static Path work;

    @TempDir
    static Path archives;

    private final Path data = Path.of(System.getProperty(
            "plaid.data",
            Path.of(System.getProperty("plaid.home"), "../shared/data").toString()));
    private String checkpoint;
    private List<Long> servicePids = List.of();

    @BeforeAll
    void theDataAUserHas() throws IOException {
        for (String file : List.of("owt2_tokenizer.json", "wikitext2.valid.tokens"))
            assertThat(data.resolve(file))
                    .as("the original's data (-Dplaid.data)")
                    .exists();
        writeArchives();
        // data-svc's tokenizer and the WikiText-2 raw file, where a user puts them: under the data root, which
        // the trainer reads its corpora and zero-shot sets from.
        Path dataRoot = Files.createDirectories(LocalStack.CpuServices.dataRoot(work));
        Files.copy(data.resolve("owt2_tokenizer.json"), dataRoot.resolve("tokenizer.json"));
        Files.copy(data.resolve("wikitext2.valid.tokens"), dataRoot.resolve("wikitext2.valid.tokens"));
    }

    @AfterAll
    void noServiceOutlivesTheTest() {
        // plaid down is a step of the test; this only cleans up after a failed one
        for (long pid : servicePids) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    }

    @Test
    @Order(1)
    void upStartsTheThreeServicesInTheBackground() throws Exception {
        int basePort = DemoInterruptIT.threeFreePorts();
        Run up = plaid("up", "--base-port=" + basePort);
        assertThat(up.exitCode()).as(up.toString()).isZero();
        StackState state = StackState.read(work).orElseThrow();
        servicePids =
                state.services().stream().map(StackState.ServiceProcess::pid).toList();
        assertThat(state.services())
                .extracting(StackState.ServiceProcess::module)
                .containsExactly("data-svc", "trainer-svc", "sampler-svc");
        assertThat(up.out())
                .contains("127.0.0.1:" + basePort)
                .contains(work.resolve("logs").toString());
        // the command has ended; its services run on
        assertThat(state.running()).hasSize(3);

        Run status = plaid("status");
        assertThat(status.exitCode()).as(status.toString()).isZero();
        assertThat(status.lines().stream().filter(l -> l.endsWith(" SERVING"))).hasSize(3);
    }

    @Test
    @Order(2)
    void dataPrepareTurnsTheArchivesIntoTheDefaultCorpus() {
        Run prepare = plaid(
                "data",
                "prepare",
                "openwebtext2",
                "--from",
                archives.toString(),
                "--validation-documents=" + VALIDATION_DOCUMENTS,
                "--train-shards=2");
        assertThat(prepare.exitCode()).as(prepare.toString()).isZero();
        int kept = ARCHIVES * (DOCUMENTS_PER_ARCHIVE - 2);
        assertThat(prepare.lines())
                .contains("skipped: " + ARCHIVES + " non-English documents, " + ARCHIVES
                        + " malformed lines, 0 non-UTF-8 lines, 0 corrupt archives")
                .anySatisfy(l -> assertThat(l)
                        .startsWith("corpus openwebtext2: " + kept + " documents from " + ARCHIVES + " archives")
                        .endsWith("(train " + (kept - VALIDATION_DOCUMENTS) + ", validation " + VALIDATION_DOCUMENTS
                                + ")"));
        // the archives were linked into the data root for the service to read, and are gone from there again
        assertThat(LocalStack.CpuServices.dataRoot(work).resolve(DataCommand.INCOMING))
                .isEmptyDirectory();

        Run list = plaid("data", "list");
        assertThat(list.exitCode()).as(list.toString()).isZero();
        assertThat(list.lines())
                .anySatisfy(l -> assertThat(l).matches("openwebtext2 +corpus +yes +2 train shards"))
                .anySatisfy(l -> assertThat(l).matches("wikitext2 +zero-shot +yes.*"));
    }

    /** Waits for the data path (trainer-svc reading data-svc's prepared corpus): before it, the trainer refuses openwebtext2. */
    @Test
    @Order(3)
    void aSeedTrainLineWithoutACorpusFlagTrainsOnThePreparedCorpus() {
        List<String> line = new ArrayList<>(List.of("train", "--wait"));
        line.addAll(SHAPE);
        line.addAll(List.of("--steps=8", "--hook_freq=8", "--checkpoint_freq=8", "--keep_checkpoints=1"));
        Run train = plaid(line.toArray(String[]::new));
        assertThat(train.exitCode()).as(train.toString()).isZero();
        assertThat(train.out()).contains("succeeded, validation NLL ");
        checkpoint = train.lineAfter("checkpoint ");
        assertThat(plaid("train", "list").lines())
                .anySatisfy(l -> assertThat(l).contains("SUCCEEDED").contains("8/8"));
    }

    @Test
    @Order(4)
    void evalBoundsTheCheckpointsLikelihoodOnWikiText2() {
        assumeTrue(checkpoint != null, "no checkpoint: the training step failed");
        Run eval = plaid("eval", "--checkpoint", checkpoint, "--dataset", "wikitext2", "--max-sequences", "2");
        assertThat(eval.exitCode()).as(eval.toString()).isZero();
        assertThat(eval.out()).startsWith("wikitext2: NLL ").contains("word perplexity");
    }

    @Test
    @Order(5)
    void sampleFromTheCheckpoint() {
        assumeTrue(checkpoint != null, "no checkpoint: the training step failed");
        Run sample = plaid("sample", "--checkpoint", checkpoint, "--samples", "2", "--steps", "10", "--seed", "1");
        assertThat(sample.exitCode()).as(sample.toString()).isZero();
        assertThat(sample.lines()).hasSize(2);
    }

    @Test
    @Order(6)
    void aFourTrialSweepEndsWithItsTable() {
        List<String> line = new ArrayList<>(List.of("sweep", "--lr=grid:1e-3,3e-3", "--weight_decay=grid:0,0.01"));
        line.addAll(SHAPE);
        line.addAll(List.of("--steps=4", "--hook_freq=4"));
        Run sweep = plaid(line.toArray(String[]::new));
        assertThat(sweep.exitCode()).as(sweep.toString()).isZero();
        assertThat(sweep.lines()).anySatisfy(l -> assertThat(l).matches("sweep \\S+: 4 trials"));
        assertThat(sweep.lines())
                .anySatisfy(l -> assertThat(l).startsWith("TRIAL").contains("VAL_NLL"));
        assertThat(sweep.lines().stream().filter(l -> l.matches("\\d +succeeded +\\d+\\.\\d{4} .*")))
                .hasSize(4);
        assertThat(sweep.out()).contains("best: trial ").contains("./plaid train --corpus=openwebtext2");
    }

    @Test
    @Order(7)
    void downLeavesNoProcessBehind() throws Exception {
        assumeTrue(!servicePids.isEmpty(), "plaid up did not start");
        Run down = plaid("down");
        assertThat(down.exitCode()).as(down.toString()).isZero();
        for (long pid : servicePids)
            assertThat(ProcessHandle.of(pid).filter(ProcessHandle::isAlive))
                    .as("pid %d", pid)
                    .isEmpty();
        assertThat(StackState.file(work)).doesNotExist();
        Run status = plaid("status");
        assertThat(status.exitCode()).isEqualTo(PlaidCommand.EXIT_SERVICE);
        assertThat(status.out()).contains("no stack is up");
    }

    /**
     * OWT2's format: one JSON object per line with text and meta.lang. Each archive also holds a
     * German document and a line that is not JSON, which the report must count and skip.
     */
    private static void writeArchives() throws IOException {
        String[] words = ("the commission council parliament report member states proposal vote debate directive"
                        + " budget committee amendment agreement citizens europe policy market energy security")
                .split(" ");
        Random random = new Random(15);
        for (int a = 0; a < ARCHIVES; a++) {
            try (OutputStream out = new ZstdOutputStream(
                    Files.newOutputStream(archives.resolve(String.format("2020-%02d.jsonl.zst", a + 1))))) {
                for (int d = 0; d < DOCUMENTS_PER_ARCHIVE - 2; d++) {
                    StringBuilder text = new StringBuilder("Document " + a + "-" + d + ".");
                    for (int w = 0; w < 40 + random.nextInt(60); w++)
                        text.append(' ').append(words[random.nextInt(words.length)]);
                    out.write(("{\"text\": \"" + text + ".\", \"meta\": {\"lang\": \"en\"}}\n").getBytes(UTF_8));
                }
                out.write("{\"text\": \"Die Kommission hat den Vorschlag angenommen.\", \"meta\": {\"lang\": \"de\"}}\n"
                        .getBytes(UTF_8));
                out.write("this line is not JSON\n".getBytes(UTF_8));
            }
        }
    }

    record Run(int exitCode, String out, String err) {
        List<String> lines() {
            return out.lines().toList();
        }

        String lineAfter(String start) {
            return lines().stream()
                    .filter(l -> l.startsWith(start))
                    .findFirst()
                    .map(l -> l.substring(start.length()))
                    .orElseThrow(() -> new AssertionError("no line starting with '" + start + "' in " + this));
        }
    }

    /**
     * {@code plaid args...} as its own process, as ./plaid runs it (the test's class path holds the
     * plaid command and its dependencies as built). The stack is found through PLAID_WORK_DIR, as a
     * user who exported it would have it; no address is given.
     */
    private static Run plaid(String... args) {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow",
                "-Dplaid.home=" + System.getProperty("plaid.home"),
                "-cp",
                System.getProperty("java.class.path"),
                "plaid.cli.PlaidCommand"));
        command.addAll(List.of(args));
        try {
            ProcessBuilder builder = new ProcessBuilder(command);
            builder.environment().put("PLAID_WORK_DIR", work.toString());
            List.of("PLAID_DATA_SVC", "PLAID_TRAINER_SVC", "PLAID_SAMPLER_SVC", "PLAID_TOKEN")
                    .forEach(builder.environment()::remove);
            Process p = builder.start();
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
            String out = read(p.getInputStream());
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new AssertionError("plaid " + String.join(" ", args) + " ran over 10 minutes");
            }
            return new Run(p.exitValue(), out, err.join());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static String read(java.io.InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), UTF_8);
        } catch (IOException e) {
            return "(unreadable: " + e.getMessage() + ")";
        }
    }
}

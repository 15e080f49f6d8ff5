package plaid.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import plaid.v1.DatasetFile;
import plaid.v1.DatasetInfo;
import plaid.v1.DatasetKind;
import plaid.v1.PrepareReport;

/** {@code plaid data}: what it refuses before asking data-svc, how it hands a folder to it, and what it prints. */
class DataCommandTest {
    @TempDir
    Path work;

    @TempDir
    Path elsewhere;

    /** A plaid up stack whose data-svc is this JVM: never asked, since every case here fails or runs before the call. */
    @BeforeEach
    void aStackIsUp() {
        new StackState(
                        work,
                        work.resolve("data"),
                        work.resolve("trainer"),
                        work.resolve("logs"),
                        List.of(StackState.ServiceProcess.of("data-svc", "127.0.0.1:1", ProcessHandle.current())))
                .write();
    }

    @Test
    void aMissingFromFolderIsAUsageErrorNamingIt() {
        var run = prepare(elsewhere.resolve("no-such-dir").toString());
        assertThat(run.exitCode()).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(run.err()).contains("--from: no such folder or .tar: " + elsewhere.resolve("no-such-dir"));
    }

    @Test
    void aFolderWithoutArchivesIsAUsageError() throws Exception {
        Files.writeString(elsewhere.resolve("notes.txt"), "not an archive");
        Files.writeString(elsewhere.resolve("00.jsonl"), "{}");
        var run = prepare(elsewhere.toString());
        assertThat(run.exitCode()).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(run.err()).contains("--from: " + elsewhere + " holds no *.jsonl.zst archives");
        assertThat(work.resolve("data").resolve(DataCommand.INCOMING)).doesNotExist();
    }

    @Test
    void aFileThatIsNoTarIsAUsageError() throws Exception {
        Path file = Files.writeString(elsewhere.resolve("owt2.zip"), "zip");
        var run = prepare(file.toString());
        assertThat(run.exitCode()).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(run.err()).contains("--from: " + file + " is a file, but neither a folder");
    }

    @Test
    void aFolderOnThisMachineWithoutALocalStackIsRefused() {
        var run = StackCommandsTest.plaid(
                "data",
                "prepare",
                "openwebtext2",
                "--from",
                elsewhere.toString(),
                "--work-dir",
                work.resolve("none").toString(),
                "--data",
                "127.0.0.1:1");
        assertThat(run.exitCode()).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(run.err()).contains("no plaid up stack runs here").contains("relative to data-svc's data root");
    }

    @Test
    void aServiceThatDoesNotAnswerLeavesNoStagedArchivesBehind() throws Exception {
        Files.write(elsewhere.resolve("2019-01.jsonl.zst"), new byte[] {1, 2, 3});
        var run = prepare(elsewhere.toString());
        assertThat(run.exitCode()).as(run.toString()).isEqualTo(PlaidCommand.EXIT_SERVICE);
        assertThat(run.err()).contains("service unavailable").contains("plaid up");
        try (var left = Files.list(work.resolve("data").resolve(DataCommand.INCOMING))) {
            assertThat(left).isEmpty();
        }
        assertThat(elsewhere.resolve("2019-01.jsonl.zst")).exists();
    }

    @Test
    void stagingLinksTheArchivesOnlyAndReturnsTheFolderOrTheTar() throws Exception {
        Files.write(elsewhere.resolve("a.jsonl.zst"), new byte[] {1, 2});
        Files.write(elsewhere.resolve("b.jsonl.zst"), new byte[] {3});
        Files.writeString(elsewhere.resolve("README"), "skip me");
        Path target = work.resolve("data/incoming/x");

        assertThat(DataCommand.stage(elsewhere, target)).isEqualTo(target);
        try (var staged = Files.list(target)) {
            assertThat(staged.map(p -> p.getFileName().toString()))
                    .containsExactlyInAnyOrder("a.jsonl.zst", "b.jsonl.zst");
        }
        assertThat(Files.readAllBytes(target.resolve("a.jsonl.zst"))).containsExactly(1, 2);

        Path tar = Files.write(elsewhere.resolve("owt2.tar"), new byte[] {9});
        Path tarTarget = work.resolve("data/incoming/y");
        assertThat(DataCommand.stage(tar, tarTarget)).isEqualTo(tarTarget.resolve("owt2.tar"));

        DataCommand.deleteTree(target);
        assertThat(target).doesNotExist();
        assertThat(elsewhere.resolve("a.jsonl.zst")).exists();
    }

    @Test
    void theReportCountsWhatWasSkipped() {
        String text = DataCommand.describe(PrepareReport.newBuilder()
                .setCorpus("openwebtext2")
                .setArchives(3)
                .setDocuments(600)
                .setTrainDocuments(550)
                .setValidationDocuments(50)
                .setNonEnglishDocuments(7)
                .setMalformedLines(2)
                .setInvalidUtf8Lines(1)
                .setElapsedMillis(1500)
                .addProblems("a.jsonl.zst line 3: not JSON")
                .build());
        assertThat(text.lines())
                .containsExactly(
                        "corpus openwebtext2: 600 documents from 3 archives in 1.5 s (train 550, validation 50)",
                        "skipped: 7 non-English documents, 2 malformed lines, 1 non-UTF-8 lines, 0 corrupt archives",
                        "  a.jsonl.zst line 3: not JSON");
    }

    @Test
    void listRowsSayWhatIsMissing() {
        assertThat(DataCommand.ListDatasets.row(DatasetInfo.newBuilder()
                        .setName("openwebtext2")
                        .setKind(DatasetKind.DATASET_KIND_TRAINING_CORPUS)
                        .setAvailable(true)
                        .setTrainShards(8)
                        .build()))
                .matches("openwebtext2 +corpus +yes +8 train shards");
        assertThat(DataCommand.ListDatasets.row(DatasetInfo.newBuilder()
                        .setName("wikitext2")
                        .setKind(DatasetKind.DATASET_KIND_ZERO_SHOT)
                        .addFiles(DatasetFile.newBuilder().setPath("wikitext2.valid.tokens"))
                        .build()))
                .matches("wikitext2 +zero-shot +no +missing under the data root: wikitext2.valid.tokens");
    }

    @Test
    void dataWithoutASubcommandIsAUsageError() {
        var run = StackCommandsTest.plaid("data");
        assertThat(run.exitCode()).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(run.err()).contains("give a subcommand: prepare or list");
    }

    private StackCommandsTest.Run prepare(String from) {
        return StackCommandsTest.plaid(
                "data", "prepare", "openwebtext2", "--from", from, "--work-dir", work.toString());
    }
}

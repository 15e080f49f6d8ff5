package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.luben.zstd.ZstdOutputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Owt2PreparerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void keepsEnglishShufflesAndSplitsWhileCountingBadInput(@TempDir Path dir) throws IOException {
        Path input = Files.createDirectories(dir.resolve("in")), output = dir.resolve("out");
        // Archives are read in reverse name order: b first, then a.
        List<String> english = new ArrayList<>();
        List<String> bLines = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            english.add("doc b" + i + " café");
            bLines.add(record("en", "\"doc b" + i + " café\""));
        }
        bLines.add(record("de", "\"ein Dokument\""));
        bLines.add("{not json");
        bLines.add(record("en", "42"));
        english.add("para one\n\npara two");
        bLines.add(record("en", "[\"para one\", \"para two\"]"));
        // The invalid-UTF-8 line comes in a second frame, to read across frames too.
        writeArchive(input.resolve("b.jsonl.zst"), new byte[0], utf8(String.join("\n", bLines)), new byte[] {
            '\n', (byte) 0xFF, '\n'
        });
        english.add("last good");
        writeArchive(
                input.resolve("a.jsonl.zst"),
                utf8("trailing garbage that is no zstd frame"),
                utf8(record("en", "\"last good\"") + "\n"));

        Owt2Preparer.Report report = Owt2Preparer.prepare(input, output, new Owt2Preparer.Options(0, 5, 3));

        assertThat(report.archives()).isEqualTo(2);
        assertThat(report.documents()).isEqualTo(32);
        assertThat(report.nonEnglish()).isEqualTo(1);
        assertThat(report.malformedLines()).isEqualTo(2);
        assertThat(report.invalidUtf8Lines()).isEqualTo(1);
        assertThat(report.corruptArchives()).isEqualTo(1);
        assertThat(report.problems()).anyMatch(p -> p.startsWith("a.jsonl.zst: unreadable"));
        assertThat(report.validationDocuments()).isEqualTo(5);
        assertThat(report.trainDocuments()).isEqualTo(27);

        int[] order = NumpyLegacyShuffle.permutation(32, 0);
        List<String> validation = readStrings(CorpusDirectory.validationFile(output));
        assertThat(validation).hasSize(5);
        for (int p = 0; p < 5; p++) assertThat(validation.get(p)).isEqualTo(english.get(order[p]));
        List<List<String>> shards = new ArrayList<>();
        for (int s = 0; s < 3; s++) shards.add(readStrings(CorpusDirectory.trainFile(output, s)));
        for (int p = 5; p < 32; p++) assertThat(shards.get(p % 3)).contains(english.get(order[p]));
        assertThat(shards.stream().mapToInt(List::size).sum()).isEqualTo(27);
        assertThat(Files.readString(CorpusDirectory.validationFile(output))).matches("\\p{ASCII}*");
        try (var files = Files.list(output)) {
            assertThat(files).hasSize(4); // the spool file is gone
        }
    }

    @Test
    void refusesFewerDocumentsThanTheValidationSplit(@TempDir Path dir) throws IOException {
        writeArchive(dir.resolve("x.jsonl.zst"), new byte[0], utf8(record("en", "\"only one\"")));
        assertThatThrownBy(() -> Owt2Preparer.prepare(dir, dir.resolve("out"), Owt2Preparer.ORIGINAL))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("validation_documents is too large: only 1 English documents")
                .hasMessageContaining("fewer than the 100000 validation documents");
    }

    /** A small archive that inflates to one 64 MiB line: counted as malformed, never held, and the rest is prepared. */
    @Test
    void anOverlongLineIsSkippedAsMalformedWithoutBeingHeld(@TempDir Path dir) throws IOException {
        Path input = Files.createDirectories(dir.resolve("in")), archive = input.resolve("bomb.jsonl.zst");
        long lineBytes = 64L << 20;
        try (OutputStream zstd = new ZstdOutputStream(Files.newOutputStream(archive))) {
            zstd.write(utf8(record("en", "\"before\"") + "\n"));
            byte[] chunk = new byte[1 << 20];
            Arrays.fill(chunk, (byte) 'x');
            for (long written = 0; written < lineBytes; written += chunk.length) zstd.write(chunk);
            zstd.write(utf8("\n" + record("en", "\"after\"") + "\n"));
        }
        assertThat(Files.size(archive)).isLessThan(1 << 20);

        Owt2Preparer.Report report =
                Owt2Preparer.prepare(input, dir.resolve("out"), new Owt2Preparer.Options(0, 1, 1, 1 << 20));

        assertThat(report.malformedLines()).isEqualTo(1);
        assertThat(report.documents()).isEqualTo(2);
        assertThat(report.corruptArchives()).isZero();
        assertThat(report.problems())
                .containsExactly(
                        "bomb.jsonl.zst line 2: " + lineBytes + " bytes, longer than the 1048576 allowed; skipped");
        List<String> all = new ArrayList<>(readStrings(CorpusDirectory.validationFile(dir.resolve("out"))));
        all.addAll(readStrings(CorpusDirectory.trainFile(dir.resolve("out"), 0)));
        assertThat(all).containsExactlyInAnyOrder("before", "after");
    }

    @Test
    void stopsWhenAsked(@TempDir Path dir) throws IOException {
        writeArchive(dir.resolve("x.jsonl.zst"), new byte[0], utf8((record("en", "\"doc\"") + "\n").repeat(100)));
        AtomicInteger asked = new AtomicInteger();
        try (Owt2Archives archives = Owt2Archives.open(dir, "source_dir")) {
            assertThatThrownBy(() -> Owt2Preparer.prepare(
                            archives,
                            dir.resolve("out"),
                            new Owt2Preparer.Options(0, 1, 1),
                            new Owt2Preparer.Progress(),
                            () -> asked.incrementAndGet() > 10))
                    .isInstanceOf(CancellationException.class);
        }
        assertThat(asked.get()).isEqualTo(11);
    }

    /** The release's .tar is read in place and gives the same corpus as its archives in a folder. */
    @Test
    void aTarOfArchivesPreparesLikeTheFolderAndCountsProgress(@TempDir Path dir) throws IOException {
        Path input = Files.createDirectories(dir.resolve("in"));
        for (String name : List.of("2019-01", "2019-02")) {
            StringBuilder lines = new StringBuilder();
            for (int i = 0; i < 20; i++)
                lines.append(record("en", "\"" + name + " doc " + i + "\"")).append('\n');
            lines.append(record("fr", "\"un document\"")).append('\n');
            writeArchive(input.resolve(name + ".jsonl.zst"), new byte[0], utf8(lines.toString()));
        }
        Path tar = dir.resolve("openwebtext2.jsonl.zst.tar");
        writeTar(tar, input, "2019-01.jsonl.zst", "2019-02.jsonl.zst");

        Owt2Preparer.Report fromFolder =
                Owt2Preparer.prepare(input, dir.resolve("a"), new Owt2Preparer.Options(0, 4, 2));
        Owt2Preparer.Progress progress = new Owt2Preparer.Progress();
        Owt2Preparer.Report fromTar;
        try (Owt2Archives archives = Owt2Archives.open(tar, "source_dir")) {
            assertThat(archives.archives())
                    .extracting(Owt2Archives.Archive::name)
                    .containsExactly("2019-02.jsonl.zst", "2019-01.jsonl.zst");
            fromTar = Owt2Preparer.prepare(
                    archives, dir.resolve("b"), new Owt2Preparer.Options(0, 4, 2), progress, () -> false);
            assertThat(progress.compressedBytesRead.get()).isEqualTo(archives.totalBytes());
        }
        assertThat(fromTar).isEqualTo(fromFolder);
        assertThat(fromTar.documents()).isEqualTo(40);
        assertThat(fromTar.nonEnglish()).isEqualTo(2);
        assertThat(progress.archivesDone.get()).isEqualTo(2);
        assertThat(progress.documents.get()).isEqualTo(40);
        for (int shard = 0; shard < 2; shard++)
            assertThat(CorpusDirectory.trainFile(dir.resolve("b"), shard))
                    .hasSameTextualContentAs(CorpusDirectory.trainFile(dir.resolve("a"), shard));
    }

    @Test
    void aTarEntryThatEscapesIsRefusedNamingTheEntry(@TempDir Path dir) throws IOException {
        writeArchive(dir.resolve("x.jsonl.zst"), new byte[0], utf8(record("en", "\"doc\"")));
        Path tar = dir.resolve("evil.tar");
        try (TarArchiveOutputStream out = new TarArchiveOutputStream(Files.newOutputStream(tar))) {
            for (String name : List.of("ok.jsonl.zst", "../../etc/x.jsonl.zst")) {
                TarArchiveEntry entry = new TarArchiveEntry(name, true);
                entry.setSize(Files.size(dir.resolve("x.jsonl.zst")));
                out.putArchiveEntry(entry);
                out.write(Files.readAllBytes(dir.resolve("x.jsonl.zst")));
                out.closeArchiveEntry();
            }
        }
        assertThatThrownBy(() -> Owt2Archives.open(tar, "source_dir"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("source_dir holds the tar entry '../../etc/x.jsonl.zst', a path outside the archive's"
                        + " folder; refused");
    }

    @Test
    void sourcesWithoutArchivesOrWithNonZstdOnesAreRefusedNamingTheField(@TempDir Path dir) throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        Files.writeString(empty.resolve("notes.txt"), "no archives here");
        assertThatThrownBy(() -> Owt2Archives.open(empty, "source_dir"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("source_dir holds no *.jsonl.zst archives");

        Path plain = Files.createDirectories(dir.resolve("plain"));
        Files.writeString(plain.resolve("2019-01.jsonl.zst"), record("en", "\"not compressed\"") + "\n");
        assertThatThrownBy(() -> Owt2Archives.open(plain, "source_dir"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("source_dir holds '2019-01.jsonl.zst', which is not zstd-compressed");

        Path german = Files.createDirectories(dir.resolve("german"));
        writeArchive(german.resolve("x.jsonl.zst"), new byte[0], utf8(record("de", "\"nur Deutsch\"")));
        assertThatThrownBy(() -> Owt2Preparer.prepare(german, dir.resolve("out"), new Owt2Preparer.Options(0, 0, 1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("source_dir holds no English documents (1 non-English");
    }

    @Test
    void boundedLinesKeepShortLinesAndMeasureLongOnes() throws IOException {
        BoundedLines lines = new BoundedLines(new ByteArrayInputStream(utf8("ab\n\nabcdef\nabc")), 3);
        assertThat(((BoundedLines.Kept) lines.next()).bytes()).isEqualTo(utf8("ab"));
        assertThat(((BoundedLines.Kept) lines.next()).bytes()).isEmpty();
        assertThat(lines.next()).isEqualTo(new BoundedLines.TooLong(6));
        assertThat(((BoundedLines.Kept) lines.next()).bytes()).isEqualTo(utf8("abc"));
        assertThat(lines.next()).isNull();
    }

    private static String record(String lang, String textJson) {
        return "{\"text\": " + textJson + ", \"meta\": {\"lang\": \"" + lang + "\", \"url\": \"x\"}}";
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** One zstd frame per content, then raw bytes that are not a frame (empty for a clean archive). */
    private static void writeArchive(Path file, byte[] garbageAfterFrames, byte[]... frameContents) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (byte[] content : frameContents) {
            ByteArrayOutputStream frame = new ByteArrayOutputStream();
            try (OutputStream zstd = new ZstdOutputStream(frame)) {
                zstd.write(content);
            }
            bytes.write(frame.toByteArray());
        }
        bytes.write(garbageAfterFrames);
        Files.write(file, bytes.toByteArray());
    }

    private static void writeTar(Path tar, Path folder, String... names) throws IOException {
        try (TarArchiveOutputStream out = new TarArchiveOutputStream(Files.newOutputStream(tar))) {
            for (String name : names) {
                out.putArchiveEntry(out.createArchiveEntry(folder.resolve(name), name));
                Files.copy(folder.resolve(name), out);
                out.closeArchiveEntry();
            }
        }
    }

    private static List<String> readStrings(Path file) throws IOException {
        List<String> strings = new ArrayList<>();
        for (String line : Files.readAllLines(file)) strings.add(JSON.readValue(line, String.class));
        return strings;
    }
}

package plaid.text;

import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.github.luben.zstd.ZstdInputStream;
import java.io.BufferedOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * Turns the OpenWebText2 release ({@code *.jsonl.zst}) into the original's training
 * files: English documents only, paragraph lists joined by a blank line, all documents
 * shuffled with NumPy's seeded shuffle, the first {@code validationDocuments} to
 * {@code en_shuffled_val.jsonl} and the rest dealt round-robin into
 * {@code en_shuffled_train_<i>.jsonl}; every line is one JSON string.
 *
 * <p>Bad input is counted and reported, never fatal: a line that is not UTF-8 or not a
 * JSON object with {@code meta.lang} and {@code text} is skipped, a line longer than
 * {@link Options#maxLineBytes} is skipped as malformed without being held (a small archive
 * may inflate to one enormous line), and a corrupt zstd frame ends that archive (the
 * documents before it are kept). Documents are spooled to disk so memory holds only one
 * offset per document.
 */
public final class Owt2Preparer {
    /** The original's settings: seed 0, 100,000 validation documents, 8 train shards. */
    public static final Options ORIGINAL = new Options(0, 100_000, 8);

    private static final ObjectMapper JSON = new ObjectMapper();
    // Python's json.dumps escapes non-ASCII; doing the same keeps every line pure ASCII.
    private static final ObjectMapper ASCII_JSON =
            JsonMapper.builder().enable(JsonWriteFeature.ESCAPE_NON_ASCII).build();

    /** Longest archive line kept by default; OWT2's longest documents are a few MB of JSON. */
    public static final int DEFAULT_MAX_LINE_BYTES = 32 << 20;

    /** @param maxLineBytes longer archive lines are counted as malformed and skipped */
    public record Options(long seed, int validationDocuments, int trainShards, int maxLineBytes) {
        public Options {
            if (validationDocuments < 0)
                throw new IllegalArgumentException("validationDocuments must be >= 0, got " + validationDocuments);
            if (trainShards < 1) throw new IllegalArgumentException("trainShards must be >= 1, got " + trainShards);
            if (maxLineBytes < 1) throw new IllegalArgumentException("maxLineBytes must be >= 1, got " + maxLineBytes);
        }

        public Options(long seed, int validationDocuments, int trainShards) {
            this(seed, validationDocuments, trainShards, DEFAULT_MAX_LINE_BYTES);
        }
    }

    /**
     * What was read and written.
     *
     * @param problems one line per corrupt archive, and the first few skipped lines
     */
    public record Report(
            int archives,
            long documents,
            long nonEnglish,
            long malformedLines,
            long invalidUtf8Lines,
            int corruptArchives,
            long validationDocuments,
            long trainDocuments,
            List<String> problems) {}

    private static final int MAX_LINE_PROBLEMS_LISTED = 20;

    private Owt2Preparer() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: Owt2Preparer <directory of *.jsonl.zst> <output directory>");
            System.exit(2);
        }
        Report report = prepare(Path.of(args[0]), Path.of(args[1]), ORIGINAL);
        System.out.println(report);
    }

    /** Reads every {@code *.jsonl.zst} in {@code inputDirectory} (reverse name order, as the original) and writes the splits. */
    public static Report prepare(Path inputDirectory, Path outputDirectory, Options options) throws IOException {
        try (Owt2Archives archives = Owt2Archives.open(inputDirectory, "source_dir")) {
            return prepare(archives, outputDirectory, options, new Progress(), () -> false);
        }
    }

    /**
     * Writes the splits of {@code archives} into {@code outputDirectory}, counting in
     * {@code progress} as it goes and asking {@code stop} after every line and document; once
     * it answers true the run ends with a {@link CancellationException}. A source without a
     * single English document, or too few for the validation split and one document per train
     * shard, is an {@link IllegalArgumentException} naming the option to change.
     */
    public static Report prepare(
            Owt2Archives archives, Path outputDirectory, Options options, Progress progress, BooleanSupplier stop)
            throws IOException {
        return build(
                archives.archives().size(), "English documents", outputDirectory, options, progress, stop, spooler -> {
                    for (Owt2Archives.Archive archive : archives.archives()) {
                        spooler.readArchive(archive);
                        progress.archivesDone.incrementAndGet();
                    }
                });
    }

    /**
     * The same splits from plain documents ({@link DocumentFile}: {@code .jsonl} lines of a JSON
     * string or an object with {@code text}, or UTF-8 text separated by blank lines), all kept:
     * how a corpus of one's own text is registered. A bad line is refused
     * ({@link DocumentFile.BadDocumentException} naming the file and line).
     *
     * @param files the files and how messages name them, read in this order
     */
    public static Report prepareDocuments(
            Map<Path, String> files, Path outputDirectory, Options options, Progress progress, BooleanSupplier stop)
            throws IOException {
        return build(files.size(), "documents", outputDirectory, options, progress, stop, spooler -> {
            for (Map.Entry<Path, String> file : files.entrySet()) {
                progress.compressedBytesRead.addAndGet(Files.size(file.getKey()));
                try {
                    DocumentFile.forEach(file.getKey(), file.getValue(), spooler::addDocument);
                } catch (UncheckedIOException e) {
                    throw e.getCause();
                }
                progress.archivesDone.incrementAndGet();
            }
        });
    }

    @FunctionalInterface
    private interface Source {
        void spoolInto(Spooler spooler) throws IOException;
    }

    private static Report build(
            int sources,
            String noun,
            Path outputDirectory,
            Options options,
            Progress progress,
            BooleanSupplier stop,
            Source source)
            throws IOException {
        Files.createDirectories(outputDirectory);
        Path spool = Files.createTempFile(outputDirectory, "owt2-spool", ".jsonl");
        try {
            Spooler spooler = new Spooler(spool, options.maxLineBytes(), progress, stop);
            try (spooler) {
                source.spoolInto(spooler);
            }
            long documents = spooler.documentCount();
            if (documents == 0)
                throw new IllegalArgumentException("source_dir holds no " + noun + " (" + spooler.nonEnglish
                        + " non-English, " + spooler.malformed + " malformed, " + spooler.invalidUtf8
                        + " non-UTF-8 lines)");
            if (documents < (long) options.validationDocuments() + options.trainShards())
                throw new IllegalArgumentException("validation_documents is too large: only " + documents
                        + " " + noun + ", fewer than the " + options.validationDocuments()
                        + " validation documents plus one per train shard (" + options.trainShards() + ")");
            progress.phase = "writing splits";
            writeSplits(spool, spooler.offsets(), outputDirectory, options, stop);
            return new Report(
                    sources,
                    documents,
                    spooler.nonEnglish,
                    spooler.malformed,
                    spooler.invalidUtf8,
                    spooler.corruptArchives,
                    options.validationDocuments(),
                    documents - options.validationDocuments(),
                    List.copyOf(spooler.problems));
        } finally {
            Files.deleteIfExists(spool);
        }
    }

    /** Counters a preparation updates as it runs, for progress reports from another thread. */
    public static final class Progress {
        public final AtomicLong compressedBytesRead = new AtomicLong();
        public final AtomicInteger archivesDone = new AtomicInteger();
        public final AtomicLong documents = new AtomicLong();
        public volatile String phase = "reading archives";
    }

    private static void writeSplits(
            Path spool, long[] offsets, Path outputDirectory, Options options, BooleanSupplier stop)
            throws IOException {
        int documents = offsets.length - 1;
        int[] order = NumpyLegacyShuffle.permutation(documents, options.seed());
        List<OutputStream> outputs = new ArrayList<>();
        try (FileChannel source = FileChannel.open(spool)) {
            outputs.add(new BufferedOutputStream(
                    Files.newOutputStream(CorpusDirectory.validationFile(outputDirectory)), 1 << 20));
            for (int shard = 0; shard < options.trainShards(); shard++)
                outputs.add(new BufferedOutputStream(
                        Files.newOutputStream(CorpusDirectory.trainFile(outputDirectory, shard)), 1 << 20));
            for (int position = 0; position < documents; position++) {
                stopIfAsked(stop);
                int document = order[position];
                ByteBuffer line = ByteBuffer.allocate(Math.toIntExact(offsets[document + 1] - offsets[document]));
                while (line.hasRemaining()) source.read(line, offsets[document] + line.position());
                // Train documents keep the original's dealing: global position modulo the shard count.
                OutputStream out = position < options.validationDocuments()
                        ? outputs.getFirst()
                        : outputs.get(1 + position % options.trainShards());
                out.write(line.array());
            }
        } finally {
            for (OutputStream out : outputs) out.close();
        }
    }

    private static void stopIfAsked(BooleanSupplier stop) {
        if (stop.getAsBoolean()) throw new CancellationException("preparation stopped");
    }

    /** Filters archive lines into a spool file of JSON-string lines, remembering where each starts. */
    private static final class Spooler implements AutoCloseable {
        private final OutputStream spool;
        private final int maxLineBytes;
        private final BooleanSupplier stop;
        private final Progress progress;
        private long[] offsets = new long[1 << 16];
        private int count;
        private long written;
        long nonEnglish, malformed, invalidUtf8;
        int corruptArchives;
        final List<String> problems = new ArrayList<>();

        Spooler(Path spoolFile, int maxLineBytes, Progress progress, BooleanSupplier stop) throws IOException {
            this.maxLineBytes = maxLineBytes;
            this.progress = progress;
            this.stop = stop;
            spool = new BufferedOutputStream(Files.newOutputStream(spoolFile), 1 << 20);
        }

        void readArchive(Owt2Archives.Archive archive) throws IOException {
            long lineNumber = 0;
            try (InputStream in =
                    new ZstdInputStream(new CountingStream(archive.opener().open(), progress))) {
                BoundedLines lines = new BoundedLines(in, maxLineBytes);
                BoundedLines.Line line;
                while ((line = lines.next()) != null) {
                    stopIfAsked(stop);
                    lineNumber++;
                    switch (line) {
                        case BoundedLines.Kept kept -> acceptLine(archive, lineNumber, kept.bytes());
                        case BoundedLines.TooLong tooLong -> {
                            malformed++;
                            lineProblem(
                                    archive,
                                    lineNumber,
                                    tooLong.bytes() + " bytes, longer than the " + maxLineBytes + " allowed");
                        }
                    }
                }
            } catch (IOException e) {
                if (e instanceof NoSuchFileException || e instanceof AccessDeniedException) throw e;
                corruptArchives++;
                problems.add(archive.name() + ": unreadable after line " + lineNumber + " (" + e.getMessage()
                        + "); rest of archive skipped");
            }
        }

        private void acceptLine(Owt2Archives.Archive archive, long lineNumber, byte[] line) throws IOException {
            if (line.length == 0) return;
            String text;
            try {
                text = StandardCharsets.UTF_8
                        .newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(line))
                        .toString();
            } catch (CharacterCodingException e) {
                invalidUtf8++;
                lineProblem(archive, lineNumber, "invalid UTF-8");
                return;
            }
            JsonNode record;
            try {
                record = JSON.readTree(text);
            } catch (IOException e) {
                malformed++;
                lineProblem(archive, lineNumber, "not JSON");
                return;
            }
            JsonNode lang = record.path("meta").path("lang");
            String document = documentText(record.path("text"));
            if (!lang.isTextual() || document == null) {
                malformed++;
                lineProblem(archive, lineNumber, "no meta.lang string or no text (string or list of strings)");
                return;
            }
            if (!lang.asText().equals("en")) {
                nonEnglish++;
                return;
            }
            spoolDocument(document);
        }

        /** A document of a plain file; a Consumer, so failures to write come unchecked. */
        void addDocument(String document) {
            stopIfAsked(stop);
            try {
                spoolDocument(document);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private void spoolDocument(String document) throws IOException {
            byte[] encoded = ASCII_JSON.writeValueAsBytes(document);
            spool.write(encoded);
            spool.write('\n');
            if (count + 2 > offsets.length) offsets = Arrays.copyOf(offsets, offsets.length * 2);
            offsets[count++] = written;
            progress.documents.incrementAndGet();
            written += encoded.length + 1;
        }

        /** The document text: a string, or a list of paragraph strings joined by a blank line; null otherwise. */
        private static String documentText(JsonNode text) {
            if (text.isTextual()) return text.asText();
            if (!text.isArray()) return null;
            List<String> paragraphs = new ArrayList<>(text.size());
            for (JsonNode paragraph : text) {
                if (!paragraph.isTextual()) return null;
                paragraphs.add(paragraph.asText());
            }
            return String.join("\n\n", paragraphs);
        }

        private void lineProblem(Owt2Archives.Archive archive, long lineNumber, String what) {
            if (problems.size() < MAX_LINE_PROBLEMS_LISTED)
                problems.add(archive.name() + " line " + lineNumber + ": " + what + "; skipped");
        }

        long documentCount() {
            return count;
        }

        /** Start offsets of each document plus the end of the last one. */
        long[] offsets() {
            long[] result = Arrays.copyOf(offsets, count + 1);
            result[count] = written;
            return result;
        }

        @Override
        public void close() throws IOException {
            spool.close();
        }
    }

    /** Counts the compressed bytes read, for progress against the archives' total size. */
    private static final class CountingStream extends FilterInputStream {
        private final Progress progress;

        CountingStream(InputStream in, Progress progress) {
            super(in);
            this.progress = progress;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) progress.compressedBytesRead.incrementAndGet();
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            int n = super.read(buffer, offset, length);
            if (n > 0) progress.compressedBytesRead.addAndGet(n);
            return n;
        }
    }
}

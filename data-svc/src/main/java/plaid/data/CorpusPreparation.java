package plaid.data;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.jboss.logging.Logger;
import plaid.service.InvalidArgument;
import plaid.text.BpeTokenizer;
import plaid.text.BpeTrainer;
import plaid.text.CorpusDirectory;
import plaid.text.DocumentFile;
import plaid.text.Owt2Archives;
import plaid.text.Owt2Preparer;
import plaid.v1.PrepareDatasetProgress;
import plaid.v1.PrepareDatasetRequest;
import plaid.v1.PrepareReport;
import plaid.v1.PrepareRunning;
import plaid.v1.PrepareStarted;
import plaid.v1.SourceFormat;

/**
 * PrepareDataset: one {@link Owt2Preparer} run at a time (it is disk- and memory-heavy),
 * built in a hidden folder ({@link CorpusDirectory#buildingFolder}) with its tokenizer and
 * manifest, and moved into {@code corpora/<name>} only when complete, so a corpus that is
 * listed is always whole. The run outlives a cancelled call, but not the service: shutting
 * down stops it within a line and keeps nothing; a hidden folder a killed service left is
 * removed at the next preparation.
 */
@ApplicationScoped
public class CorpusPreparation {
    private static final Logger LOG = Logger.getLogger(CorpusPreparation.class);
    /** The original's vocabulary, for a corpus that trains its own tokenizer. */
    private static final int DEFAULT_VOCAB_SIZE = 32768;

    private static final int MAX_VOCAB_SIZE = 1 << 20;
    /** Id 0, which the token streams put after every document. */
    private static final String END_OF_TEXT = "<|endoftext|>";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final DataRoot root;
    private final DataServiceConfig config;
    private final InFlightWork inFlight;
    private final Semaphore oneAtATime = new Semaphore(1);

    private final ServiceTokenizer tokenizer;

    CorpusPreparation(DataRoot root, DataServiceConfig config, InFlightWork inFlight, ServiceTokenizer tokenizer) {
        this.root = root;
        this.config = config;
        this.inFlight = inFlight;
        this.tokenizer = tokenizer;
    }

    /** Checks the request, then prepares on a virtual thread while reporting to {@code call}. */
    public void start(PrepareDatasetRequest request, ServerCallStreamObserver<PrepareDatasetProgress> call) {
        Path source = root.resolve(request.getSourceDir(), "source_dir");
        if (!Files.exists(source))
            throw Status.NOT_FOUND
                    .withDescription(
                            "source_dir '" + request.getSourceDir() + "' is not a folder or .tar under the data root")
                    .asRuntimeException();
        Path target = root.corpus(request.getCorpus(), "corpus");
        if (Files.exists(target))
            throw Status.ALREADY_EXISTS
                    .withDescription("corpus '" + request.getCorpus() + "' already exists")
                    .asRuntimeException();
        Owt2Preparer.Options options = options(request);
        int vocabSize = request.hasTokenizerVocabSize() ? request.getTokenizerVocabSize() : DEFAULT_VOCAB_SIZE;
        InvalidArgument.requireInRange(vocabSize, 257, MAX_VOCAB_SIZE, "tokenizer_vocab_size");
        if (!oneAtATime.tryAcquire())
            throw Status.RESOURCE_EXHAUSTED
                    .withDescription("another PrepareDataset is running; try again later")
                    .asRuntimeException();
        Source opened;
        try {
            opened = request.getSourceFormat() == SourceFormat.SOURCE_FORMAT_DOCUMENTS
                    ? documents(source)
                    : archives(Owt2Archives.open(source, "source_dir"));
            // None runs now (one at a time): hidden folders are what a killed run left.
            removeBuildingFolders();
        } catch (StatusRuntimeException e) {
            oneAtATime.release();
            throw e;
        } catch (IllegalArgumentException e) {
            oneAtATime.release();
            throw InvalidArgument.of("source_dir", e.getMessage().substring("source_dir ".length()));
        } catch (IOException | RuntimeException e) {
            oneAtATime.release();
            LOG.errorf(e, "cannot open source_dir %s", source);
            throw Status.FAILED_PRECONDITION
                    .withDescription("source_dir '" + request.getSourceDir() + "' cannot be read: " + e.getMessage())
                    .asRuntimeException();
        }
        call.setOnCancelHandler(() -> LOG.infof("client left; preparation of '%s' goes on", request.getCorpus()));
        Thread.ofVirtual().name("prepare-" + request.getCorpus()).start(() -> {
            // The call ends only after the cleanup, so a client that hears the end may prepare again at once.
            Runnable end;
            try {
                end = prepare(opened, target, options, vocabSize, call);
            } finally {
                try {
                    opened.close();
                } catch (IOException e) {
                    LOG.warnf(e, "closing the archives of %s", source);
                }
                oneAtATime.release();
            }
            end.run();
        });
    }

    private Owt2Preparer.Options options(PrepareDatasetRequest request) {
        int validationDocuments = Owt2Preparer.ORIGINAL.validationDocuments();
        if (request.hasValidationDocuments()) {
            validationDocuments = request.getValidationDocuments();
            InvalidArgument.require(
                    validationDocuments >= 0, "validation_documents", "must be >= 0, got " + validationDocuments);
        }
        int trainShards =
                request.getTrainShards() == 0 ? Owt2Preparer.ORIGINAL.trainShards() : request.getTrainShards();
        InvalidArgument.requireInRange(trainShards, 1, config.limits().maxTrainShards(), "train_shards");
        return new Owt2Preparer.Options(
                request.getSeed(),
                validationDocuments,
                trainShards,
                config.limits().maxArchiveLineBytes());
    }

    /** What the preparation made: the preparer's report and where the tokenizer came from. */
    private record Made(Owt2Preparer.Report report, String tokenizer, int trainShards) {}

    /** What a preparation reads: its files' names and bytes, and how it runs the preparer on them. */
    private interface Source extends AutoCloseable {
        /** The manifest's {@code source}. */
        String kind();

        List<String> names();

        long bytes();

        Owt2Preparer.Report prepare(
                Path output, Owt2Preparer.Options options, Owt2Preparer.Progress progress, BooleanSupplier stop)
                throws IOException;

        @Override
        void close() throws IOException;
    }

    private static Source archives(Owt2Archives archives) {
        return new Source() {
            public String kind() {
                return "owt2";
            }

            public List<String> names() {
                return archives.archives().stream()
                        .map(Owt2Archives.Archive::name)
                        .toList();
            }

            public long bytes() {
                return archives.totalBytes();
            }

            public Owt2Preparer.Report prepare(
                    Path output, Owt2Preparer.Options options, Owt2Preparer.Progress progress, BooleanSupplier stop)
                    throws IOException {
                return Owt2Preparer.prepare(archives, output, options, progress, stop);
            }

            public void close() throws IOException {
                archives.close();
            }
        };
    }

    /** A .txt/.jsonl file, or a folder's such files in name order. */
    private Source documents(Path source) throws IOException {
        List<Path> files;
        if (Files.isDirectory(source))
            try (Stream<Path> listed = Files.list(source)) {
                files = listed.filter(Files::isRegularFile)
                        .filter(f -> f.getFileName().toString().matches(".*\\.(txt|jsonl)"))
                        .sorted()
                        .toList();
            }
        else files = List.of(source);
        InvalidArgument.require(!files.isEmpty(), "source_dir", "holds no .txt or .jsonl files");
        Map<Path, String> named = new LinkedHashMap<>();
        for (Path file : files) named.put(file, root.path().relativize(file).toString());
        long bytes = 0;
        for (Path file : files) bytes += Files.size(file);
        long total = bytes;
        return new Source() {
            public String kind() {
                return "documents";
            }

            public List<String> names() {
                return List.copyOf(named.values());
            }

            public long bytes() {
                return total;
            }

            public Owt2Preparer.Report prepare(
                    Path output, Owt2Preparer.Options options, Owt2Preparer.Progress progress, BooleanSupplier stop)
                    throws IOException {
                return Owt2Preparer.prepareDocuments(named, output, options, progress, stop);
            }

            public void close() {}
        };
    }

    /** Prepares, removes what is left of the building folder, and returns how to end the call. */
    private Runnable prepare(
            Source archives,
            Path target,
            Owt2Preparer.Options options,
            int vocabSize,
            ServerCallStreamObserver<PrepareDatasetProgress> call) {
        long startNanos = System.nanoTime();
        Path building = null;
        try {
            call.onNext(PrepareDatasetProgress.newBuilder()
                    .setStarted(PrepareStarted.newBuilder()
                            .addAllArchives(archives.names())
                            .setArchiveBytes(archives.bytes()))
                    .build());
            building = CorpusDirectory.buildingFolder(
                    root.path(), target.getFileName().toString());
            Path output = building;
            Owt2Preparer.Progress progress = new Owt2Preparer.Progress();
            CompletableFuture<Made> run = CompletableFuture.supplyAsync(
                    () -> {
                        try {
                            Owt2Preparer.Report report =
                                    archives.prepare(output, options, progress, inFlight::stopping);
                            progress.phase = "tokenizer";
                            String tokenizerSource =
                                    sealWithTokenizer(output, archives.kind(), report, options, vocabSize);
                            return new Made(report, tokenizerSource, options.trainShards());
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    },
                    Thread.ofVirtual().name("owt2-preparer")::start);
            Made made = awaitReporting(run, building, progress, startNanos, call);
            try {
                Files.move(building, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw Status.ALREADY_EXISTS
                        .withDescription("corpus '" + target.getFileName() + "' appeared while preparing")
                        .asRuntimeException();
            }
            PrepareReport finished = report(target, made, startNanos);
            return () -> {
                call.onNext(PrepareDatasetProgress.newBuilder()
                        .setFinished(finished)
                        .build());
                call.onCompleted();
            };
        } catch (StatusRuntimeException e) {
            return () -> call.onError(e);
        } catch (IOException | RuntimeException e) {
            LOG.errorf(e, "preparing %s failed", target);
            return () -> call.onError(
                    Status.INTERNAL.withDescription("preparation failed: " + e).asRuntimeException());
        } finally {
            if (building != null) deleteQuietly(building);
        }
    }

    /**
     * Gives the corpus its tokenizer and manifest: the service's tokenizer when it has one (the
     * OWT2 tokenizer in a deployment), else one trained on the first train documents.
     */
    private String sealWithTokenizer(
            Path folder, String kind, Owt2Preparer.Report report, Owt2Preparer.Options options, int vocabSize)
            throws IOException {
        CorpusDirectory.Manifest manifest = new CorpusDirectory.Manifest(
                kind, options.trainShards(), report.trainDocuments(), report.validationDocuments());
        Optional<Path> configured = tokenizer.file();
        if (configured.isPresent()) {
            CorpusDirectory.seal(folder, configured.get(), manifest);
            return "data-svc.tokenizer";
        }
        List<String> documents = new ArrayList<>();
        int limit = config.tokenizerTrainingDocuments();
        for (int shard = 0; shard < options.trainShards() && documents.size() < limit; shard++)
            try (Stream<String> lines = Files.lines(CorpusDirectory.trainFile(folder, shard))) {
                for (String line : (Iterable<String>) lines.limit(limit - documents.size())::iterator)
                    documents.add(JSON.readValue(line, String.class));
            }
        BpeTokenizer trained = new BpeTrainer(vocabSize, List.of(END_OF_TEXT), 2).train(documents.parallelStream());
        Path file = folder.resolve(CorpusDirectory.TOKENIZER_FILE);
        trained.save(file);
        CorpusDirectory.seal(folder, file, manifest);
        return "trained (" + trained.vocabSize() + " ids)";
    }

    /** Waits for the run, sending a {@link PrepareRunning} every progress interval. */
    private Made awaitReporting(
            CompletableFuture<Made> run,
            Path building,
            Owt2Preparer.Progress progress,
            long startNanos,
            ServerCallStreamObserver<PrepareDatasetProgress> call)
            throws IOException {
        while (true) {
            try {
                return run.get(config.prepareProgressInterval().toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException stillRunning) {
                call.onNext(PrepareDatasetProgress.newBuilder()
                        .setRunning(PrepareRunning.newBuilder()
                                .setElapsedMillis(millisSince(startNanos))
                                .setBytesWritten(bytesUnder(building))
                                .setArchiveBytesRead(progress.compressedBytesRead.get())
                                .setArchivesDone(progress.archivesDone.get())
                                .setDocuments(progress.documents.get())
                                .setPhase(progress.phase))
                        .build());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw Status.ABORTED.withDescription("interrupted").asRuntimeException();
            } catch (ExecutionException e) {
                // Owt2Preparer's refusals of the input (no English document, too few, ...) start with the field to fix.
                if (e.getCause() instanceof IllegalArgumentException refusal)
                    throw Status.INVALID_ARGUMENT
                            .withDescription(refusal.getMessage())
                            .asRuntimeException();
                if (e.getCause() instanceof CancellationException)
                    throw Status.UNAVAILABLE
                            .withDescription("data-svc is shutting down; the preparation was stopped and nothing kept")
                            .asRuntimeException();
                if (e.getCause() instanceof UncheckedIOException io
                        && io.getCause() instanceof DocumentFile.BadDocumentException bad)
                    throw InvalidArgument.of("source_dir", bad.getMessage());
                if (e.getCause() instanceof UncheckedIOException io) throw io.getCause();
                throw new IllegalStateException(e.getCause());
            }
        }
    }

    private static PrepareReport report(Path corpus, Made made, long startNanos) {
        Owt2Preparer.Report report = made.report();
        return PrepareReport.newBuilder()
                .setCorpus(corpus.getFileName().toString())
                .setArchives(report.archives())
                .setDocuments(report.documents())
                .setNonEnglishDocuments(report.nonEnglish())
                .setMalformedLines(report.malformedLines())
                .setInvalidUtf8Lines(report.invalidUtf8Lines())
                .setCorruptArchives(report.corruptArchives())
                .setValidationDocuments(report.validationDocuments())
                .setTrainDocuments(report.trainDocuments())
                .addAllProblems(report.problems())
                .setElapsedMillis(millisSince(startNanos))
                .setTokenizer(made.tokenizer())
                .setTrainShards(made.trainShards())
                .build();
    }

    private void removeBuildingFolders() throws IOException {
        if (!Files.isDirectory(root.corpora())) return;
        try (Stream<Path> folders = Files.list(root.corpora())) {
            for (Path folder : folders.filter(CorpusDirectory::isBuilding).toList()) {
                LOG.infof("removing %s, left by a preparation that did not finish", folder);
                deleteQuietly(folder);
            }
        }
    }

    private static long millisSince(long startNanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }

    /**
     * Bytes of the files under the folder now. The preparer keeps writing and deleting there (its spool
     * goes when the splits are written), so a file that vanishes during the walk counts 0 instead of
     * failing the preparation.
     */
    private static long bytesUnder(Path folder) throws IOException {
        long[] total = {0};
        Files.walkFileTree(folder, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) {
                if (attributes.isRegularFile()) total[0] += attributes.size();
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                if (e instanceof NoSuchFileException) return FileVisitResult.CONTINUE;
                throw e;
            }
        });
        return total[0];
    }

    private static void deleteQuietly(Path folder) {
        if (!Files.exists(folder)) return;
        try (Stream<Path> files = Files.walk(folder)) {
            for (Path file : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.warnf(e, "cannot remove the unfinished corpus %s", folder);
        }
    }
}

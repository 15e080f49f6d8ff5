package plaid.data;

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
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import org.jboss.logging.Logger;
import plaid.service.InvalidArgument;
import plaid.text.Owt2Preparer;
import plaid.v1.PrepareDatasetProgress;
import plaid.v1.PrepareDatasetRequest;
import plaid.v1.PrepareReport;
import plaid.v1.PrepareRunning;
import plaid.v1.PrepareStarted;

/**
 * PrepareDataset: one {@link Owt2Preparer} run at a time (it is disk- and memory-heavy),
 * built in a hidden folder and moved into {@code corpora/<name>} only when complete, so a
 * corpus that is listed is always whole. The run outlives a cancelled call, but not the
 * service: shutting down stops it within a line and keeps nothing.
 */
@ApplicationScoped
public class CorpusPreparation {
    private static final Logger LOG = Logger.getLogger(CorpusPreparation.class);
    private static final String ARCHIVE_SUFFIX = ".jsonl.zst";

    private final DataRoot root;
    private final DataServiceConfig config;
    private final InFlightWork inFlight;
    private final Semaphore oneAtATime = new Semaphore(1);

    CorpusPreparation(DataRoot root, DataServiceConfig config, InFlightWork inFlight) {
        this.root = root;
        this.config = config;
        this.inFlight = inFlight;
    }

    /** Checks the request, then prepares on a virtual thread while reporting to {@code call}. */
    public void start(PrepareDatasetRequest request, ServerCallStreamObserver<PrepareDatasetProgress> call) {
        Path source = root.resolve(request.getSourceDir(), "source_dir");
        if (!Files.isDirectory(source))
            throw Status.NOT_FOUND
                    .withDescription("source_dir '" + request.getSourceDir() + "' is not a folder under the data root")
                    .asRuntimeException();
        Path target = root.corpus(request.getCorpus(), "corpus");
        if (Files.exists(target))
            throw Status.ALREADY_EXISTS
                    .withDescription("corpus '" + request.getCorpus() + "' already exists")
                    .asRuntimeException();
        Owt2Preparer.Options options = options(request);
        List<Path> archives = archives(source);
        InvalidArgument.require(!archives.isEmpty(), "source_dir", "holds no *" + ARCHIVE_SUFFIX + " archives");
        if (!oneAtATime.tryAcquire())
            throw Status.RESOURCE_EXHAUSTED
                    .withDescription("another PrepareDataset is running; try again later")
                    .asRuntimeException();
        call.setOnCancelHandler(() -> LOG.infof("client left; preparation of '%s' goes on", request.getCorpus()));
        Thread.ofVirtual().name("prepare-" + request.getCorpus()).start(() -> {
            try {
                prepare(source, archives, target, options, call);
            } finally {
                oneAtATime.release();
            }
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

    private void prepare(
            Path source,
            List<Path> archives,
            Path target,
            Owt2Preparer.Options options,
            ServerCallStreamObserver<PrepareDatasetProgress> call) {
        long startNanos = System.nanoTime();
        Path building = null;
        try {
            long archiveBytes = 0;
            for (Path archive : archives) archiveBytes += Files.size(archive);
            call.onNext(PrepareDatasetProgress.newBuilder()
                    .setStarted(PrepareStarted.newBuilder()
                            .addAllArchives(archives.stream()
                                    .map(a -> a.getFileName().toString())
                                    .toList())
                            .setArchiveBytes(archiveBytes))
                    .build());
            building = Files.createTempDirectory(
                    Files.createDirectories(root.corpora()), "." + target.getFileName() + ".");
            Path output = building;
            CompletableFuture<Owt2Preparer.Report> run = CompletableFuture.supplyAsync(
                    () -> {
                        try {
                            return Owt2Preparer.prepare(source, output, options, inFlight::stopping);
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    },
                    Thread.ofVirtual().name("owt2-preparer")::start);
            Owt2Preparer.Report report = awaitReporting(run, building, startNanos, call);
            try {
                Files.move(building, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw Status.ALREADY_EXISTS
                        .withDescription("corpus '" + target.getFileName() + "' appeared while preparing")
                        .asRuntimeException();
            }
            call.onNext(PrepareDatasetProgress.newBuilder()
                    .setFinished(report(target, report, startNanos))
                    .build());
            call.onCompleted();
        } catch (StatusRuntimeException e) {
            call.onError(e);
        } catch (IOException | RuntimeException e) {
            LOG.errorf(e, "preparing %s failed", target);
            call.onError(
                    Status.INTERNAL.withDescription("preparation failed: " + e).asRuntimeException());
        } finally {
            if (building != null) deleteQuietly(building);
        }
    }

    /** Waits for the run, sending a {@link PrepareRunning} every progress interval. */
    private Owt2Preparer.Report awaitReporting(
            CompletableFuture<Owt2Preparer.Report> run,
            Path building,
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
                                .setBytesWritten(bytesUnder(building)))
                        .build());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw Status.ABORTED.withDescription("interrupted").asRuntimeException();
            } catch (ExecutionException e) {
                // Owt2Preparer's refusals of the input (too few documents, ...) are the caller's to fix.
                if (e.getCause() instanceof IllegalArgumentException || e.getCause() instanceof IllegalStateException)
                    throw Status.FAILED_PRECONDITION
                            .withDescription(e.getCause().getMessage())
                            .asRuntimeException();
                if (e.getCause() instanceof CancellationException)
                    throw Status.UNAVAILABLE
                            .withDescription("data-svc is shutting down; the preparation was stopped and nothing kept")
                            .asRuntimeException();
                if (e.getCause() instanceof UncheckedIOException io) throw io.getCause();
                throw new IllegalStateException(e.getCause());
            }
        }
    }

    private static PrepareReport report(Path corpus, Owt2Preparer.Report report, long startNanos) {
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
                .build();
    }

    private static List<Path> archives(Path source) {
        try (Stream<Path> files = Files.list(source)) {
            return files.filter(f -> f.getFileName().toString().endsWith(ARCHIVE_SUFFIX))
                    .sorted()
                    .toList();
        } catch (IOException e) {
            throw Status.INTERNAL
                    .withDescription("cannot list source_dir: " + e.getMessage())
                    .asRuntimeException();
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

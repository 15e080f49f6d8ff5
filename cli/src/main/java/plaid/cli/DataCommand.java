package plaid.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import plaid.v1.DataServiceGrpc;
import plaid.v1.DatasetFile;
import plaid.v1.DatasetInfo;
import plaid.v1.DatasetKind;
import plaid.v1.ListDatasetsRequest;
import plaid.v1.PrepareDatasetProgress;
import plaid.v1.PrepareDatasetRequest;
import plaid.v1.PrepareReport;

/** {@code plaid data}: data-svc's training corpora and zero-shot sets. */
@Command(
        name = "data",
        mixinStandardHelpOptions = true,
        description = "Prepare training corpora and list the corpora and zero-shot sets data-svc holds.",
        subcommands = {DataCommand.Prepare.class, DataCommand.ListDatasets.class})
final class DataCommand implements Runnable {
    static final String ARCHIVE_SUFFIX = ".jsonl.zst";

    /** Where archives from outside the data root are linked in for the service to read; removed afterwards. */
    static final String INCOMING = "incoming";

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "give a subcommand: prepare or list");
    }

    @Command(
            name = "prepare",
            mixinStandardHelpOptions = true,
            description = {
                "Turn OpenWebText2's archives into a training corpus of data-svc (as the original's data prep does:"
                        + " English documents only, shuffled, a validation split and train shards).",
                "e.g. plaid data prepare openwebtext2 --from ~/owt2 ; plaid train then trains on it by default."
            })
    static final class Prepare implements Callable<Integer> {
        @Mixin
        Services services;

        @Parameters(
                index = "0",
                paramLabel = "CORPUS",
                description = "name of the corpus to create; train.py's default dataset is openwebtext2")
        String corpus;

        @Option(
                names = "--from",
                required = true,
                paramLabel = "DIR",
                description = "a folder of *" + ARCHIVE_SUFFIX + " archives (or the release's .tar of them) on this"
                        + " machine, for a plaid up stack; for services elsewhere, a path relative to data-svc's root")
        String from;

        @Option(
                names = "--seed",
                defaultValue = "0",
                description = "shuffle seed (default: ${DEFAULT-VALUE}, the original's)")
        long seed;

        @Option(
                names = "--validation-documents",
                description = "documents held out for validation (default: the original's 100000)")
        Integer validationDocuments;

        @Option(names = "--train-shards", defaultValue = "0", description = "train shards (default: the original's 8)")
        int trainShards;

        @Override
        public Integer call() {
            if (validationDocuments != null && validationDocuments < 0)
                throw new IllegalArgumentException("--validation-documents must be >= 0, got " + validationDocuments);
            if (trainShards < 0) throw new IllegalArgumentException("--train-shards must be >= 0, got " + trainShards);
            Optional<StackState> local = services.localStack();
            Path staging = null;
            String sourceDir;
            if (local.isPresent()) {
                Path source = checkedSource(Path.of(from));
                Path dataRoot = realPath(local.get().dataRoot());
                if (source.startsWith(dataRoot)) {
                    sourceDir = dataRoot.relativize(source).toString();
                } else {
                    staging = dataRoot.resolve(INCOMING).resolve("prepare-" + UUID.randomUUID());
                    sourceDir = dataRoot.relativize(stage(source, staging)).toString();
                }
            } else {
                if (Path.of(from).isAbsolute())
                    throw new IllegalArgumentException(
                            "--from " + from + " is a folder on this machine, but no plaid up"
                                    + " stack runs here to read it (start one with plaid up); for services elsewhere give a"
                                    + " folder relative to data-svc's data root");
                sourceDir = from;
            }
            PrepareDatasetRequest.Builder request = PrepareDatasetRequest.newBuilder()
                    .setSourceDir(sourceDir)
                    .setCorpus(corpus)
                    .setSeed(seed)
                    .setTrainShards(trainShards);
            if (validationDocuments != null) request.setValidationDocuments(validationDocuments);
            try {
                PrepareReport report = prepare(request.build());
                System.out.print(describe(report));
                return 0;
            } finally {
                // links (or copies) of the archives only; never the user's folder
                if (staging != null) deleteTree(staging);
            }
        }

        /** Runs the preparation, drawing its progress on stderr; the final report. */
        private PrepareReport prepare(PrepareDatasetRequest request) {
            try (Services.Connection data = services.data()) {
                var events = DataServiceGrpc.newBlockingStub(data.channel()).prepareDataset(request);
                ProgressBar bar = new ProgressBar(System.err, "preparing " + request.getCorpus());
                PrepareReport report = null;
                long total = 0;
                while (events.hasNext()) {
                    PrepareDatasetProgress e = events.next();
                    switch (e.getEventCase()) {
                        case STARTED -> {
                            total = e.getStarted().getArchiveBytes();
                            System.err.printf(
                                    "%d archives, %s%n",
                                    e.getStarted().getArchivesCount(),
                                    bytes(e.getStarted().getArchiveBytes()));
                        }
                        case RUNNING -> {
                            var r = e.getRunning();
                            String detail = String.format(
                                    "%s, %,d documents, %s written, %.0f s",
                                    r.getPhase().isEmpty() ? "running" : r.getPhase(),
                                    r.getDocuments(),
                                    bytes(r.getBytesWritten()),
                                    r.getElapsedMillis() / 1000.0);
                            // the archives read drive the bar; after them (splits, tokenizer) it stays full
                            if (total > 0) bar.update(Math.min(r.getArchiveBytesRead(), total), total, detail);
                            else bar.note(detail);
                        }
                        case FINISHED -> {
                            bar.finish();
                            report = e.getFinished();
                        }
                        default -> {
                            // an event this client does not know yet
                        }
                    }
                }
                if (report == null) throw new IllegalStateException("data-svc ended the preparation without a report");
                return report;
            }
        }
    }

    /** The final report as the command prints it: what was kept, what was skipped and why. */
    static String describe(PrepareReport r) {
        StringBuilder out = new StringBuilder();
        out.append(String.format(
                "corpus %s: %d documents from %d archives in %.1f s (train %d, validation %d)%n",
                r.getCorpus(),
                r.getDocuments(),
                r.getArchives(),
                r.getElapsedMillis() / 1000.0,
                r.getTrainDocuments(),
                r.getValidationDocuments()));
        out.append(String.format(
                "skipped: %d non-English documents, %d malformed lines, %d non-UTF-8 lines, %d corrupt archives%n",
                r.getNonEnglishDocuments(), r.getMalformedLines(), r.getInvalidUtf8Lines(), r.getCorruptArchives()));
        r.getProblemsList().forEach(p -> out.append("  ").append(p).append(System.lineSeparator()));
        return out.toString();
    }

    /** The --from folder (or .tar) as a real path, after checking that it holds archives: a clear error before anything is linked. */
    static Path checkedSource(Path from) {
        if (!Files.exists(from)) throw new IllegalArgumentException("--from: no such folder or .tar: " + from);
        Path source = realPath(from);
        if (Files.isRegularFile(source)) {
            if (!source.getFileName().toString().endsWith(".tar"))
                throw new IllegalArgumentException(
                        "--from: " + from + " is a file, but neither a folder of *" + ARCHIVE_SUFFIX + " nor a .tar");
            return source;
        }
        if (archives(source).isEmpty())
            throw new IllegalArgumentException("--from: " + from + " holds no *" + ARCHIVE_SUFFIX + " archives");
        return source;
    }

    private static List<Path> archives(Path folder) {
        try (Stream<Path> files = Files.list(folder)) {
            return files.filter(f -> f.getFileName().toString().endsWith(ARCHIVE_SUFFIX) && Files.isRegularFile(f))
                    .sorted()
                    .toList();
        } catch (IOException e) {
            throw new IllegalArgumentException("--from: cannot list " + folder + ": " + e.getMessage());
        }
    }

    /**
     * Makes the archives readable inside the data root (the service reads nothing outside it, nor
     * follows links out): hard links where the file system allows, copies otherwise.
     */
    static Path stage(Path source, Path target) {
        try {
            Files.createDirectories(target);
            List<Path> files = Files.isRegularFile(source) ? List.of(source) : archives(source);
            for (Path f : files) {
                Path link = target.resolve(f.getFileName());
                try {
                    Files.createLink(link, f);
                } catch (IOException | UnsupportedOperationException otherFileSystem) {
                    Files.copy(f, link);
                }
            }
            return Files.isRegularFile(source) ? target.resolve(source.getFileName()) : target;
        } catch (IOException e) {
            deleteTree(target);
            throw new UncheckedIOException("cannot stage the archives under " + target, e);
        }
    }

    static void deleteTree(Path root) {
        if (root == null || !Files.exists(root)) return;
        try (Stream<Path> tree = Files.walk(root)) {
            for (Path p : tree.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            System.err.println("plaid: could not remove " + root + ": " + e.getMessage());
        }
    }

    private static Path realPath(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            return p.toAbsolutePath().normalize();
        }
    }

    private static String bytes(long n) {
        return n < 1 << 20 ? String.format("%.1f KiB", n / 1024.0) : String.format("%.1f MiB", n / (1024.0 * 1024));
    }

    @Command(
            name = "list",
            mixinStandardHelpOptions = true,
            description =
                    "List data-svc's training corpora and zero-shot evaluation sets, and whether each can be used.")
    static final class ListDatasets implements Callable<Integer> {
        @Mixin
        Services services;

        @Override
        public Integer call() {
            try (Services.Connection data = services.data()) {
                List<DatasetInfo> datasets = DataServiceGrpc.newBlockingStub(data.channel())
                        .listDatasets(ListDatasetsRequest.getDefaultInstance())
                        .getDatasetsList();
                System.out.printf("%-16s %-10s %-10s %s%n", "NAME", "KIND", "AVAILABLE", "DETAIL");
                for (DatasetInfo d : datasets) System.out.println(row(d));
                return 0;
            }
        }

        static String row(DatasetInfo d) {
            boolean corpus = d.getKind() == DatasetKind.DATASET_KIND_TRAINING_CORPUS;
            String missing = d.getFilesList().stream()
                    .filter(f -> !f.getPresent())
                    .map(DatasetFile::getPath)
                    .collect(Collectors.joining(", "));
            String detail = corpus && d.getAvailable()
                    ? d.getTrainShards() + " train shards"
                    : missing.isEmpty() ? "" : "missing under the data root: " + missing;
            return String.format(
                            "%-16s %-10s %-10s %s",
                            d.getName(), corpus ? "corpus" : "zero-shot", d.getAvailable() ? "yes" : "no", detail)
                    .stripTrailing();
        }
    }
}

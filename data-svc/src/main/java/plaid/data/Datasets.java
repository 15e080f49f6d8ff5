package plaid.data;

import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Stream;
import plaid.text.CorpusDirectory;
import plaid.text.ZeroShotDataset;
import plaid.v1.DatasetFile;
import plaid.v1.DatasetInfo;
import plaid.v1.DatasetKind;

/** What the data root holds: training corpora under {@code corpora/}, zero-shot raw files at the top. */
@ApplicationScoped
public class Datasets {
    /** The zero-shot splits a client may provide; enwik8 and text8 have one file for all. */
    private static final List<String> ZERO_SHOT_SPLITS = List.of("valid", "test");

    private final DataRoot root;

    Datasets(DataRoot root) {
        this.root = root;
    }

    public List<DatasetInfo> list() throws IOException {
        // Ready (or incomplete) corpora by their folder, those being built by the name in .<name>.*
        TreeMap<String, DatasetInfo> corpora = new TreeMap<>();
        if (Files.isDirectory(root.corpora())) {
            try (Stream<Path> folders = Files.list(root.corpora())) {
                for (Path folder : folders.filter(Files::isDirectory).toList()) {
                    String name = folder.getFileName().toString();
                    if (!CorpusDirectory.isBuilding(folder)) corpora.put(name, corpusInfo(folder));
                    else {
                        String building = name.substring(1, Math.max(1, name.lastIndexOf('.')));
                        if (CorpusDirectory.isName(building)) corpora.putIfAbsent(building, preparingInfo(building));
                    }
                }
            }
        }
        List<DatasetInfo> datasets = new ArrayList<>(corpora.values());
        for (ZeroShotDataset dataset : ZeroShotDataset.values()) datasets.add(zeroShotInfo(dataset));
        return datasets;
    }

    /**
     * A ready corpus; NOT_FOUND if there is none of that name, FAILED_PRECONDITION (saying what
     * to wait for or redo) if it is being prepared or has no manifest.
     */
    public CorpusDirectory corpus(String name, String field) {
        Path folder = root.corpus(name, field);
        try {
            switch (CorpusDirectory.state(root.path(), name)) {
                case READY -> {
                    return CorpusDirectory.open(folder);
                }
                case PREPARING ->
                    throw Status.FAILED_PRECONDITION
                            .withDescription(field + " '" + name + "' is still being prepared; wait for its"
                                    + " PrepareDataset to finish (ListDatasets shows it as preparing)")
                            .asRuntimeException();
                case INCOMPLETE ->
                    throw Status.FAILED_PRECONDITION
                            .withDescription(field + " '" + name + "' has no " + CorpusDirectory.MANIFEST_FILE
                                    + ": it is incomplete; remove it and prepare it again")
                            .asRuntimeException();
                case ABSENT ->
                    throw Status.NOT_FOUND
                            .withDescription(field + " '" + name + "' is not a corpus of data-svc; see ListDatasets")
                            .asRuntimeException();
                default -> throw new IllegalStateException();
            }
        } catch (IOException e) {
            throw Status.INTERNAL
                    .withDescription("cannot read corpus '" + name + "': " + e.getMessage())
                    .asRuntimeException();
        }
    }

    private DatasetInfo corpusInfo(Path folder) throws IOException {
        DatasetInfo.Builder info = DatasetInfo.newBuilder()
                .setName(folder.getFileName().toString())
                .setKind(DatasetKind.DATASET_KIND_TRAINING_CORPUS);
        if (!Files.isRegularFile(folder.resolve(CorpusDirectory.MANIFEST_FILE)))
            return info.addFiles(file(folder.resolve(CorpusDirectory.MANIFEST_FILE)))
                    .build();
        CorpusDirectory corpus = CorpusDirectory.open(folder);
        List<Path> files = new ArrayList<>(corpus.shards(CorpusDirectory.Split.VALIDATION));
        files.addAll(corpus.shards(CorpusDirectory.Split.TRAIN));
        files.add(corpus.tokenizerFile());
        files.add(folder.resolve(CorpusDirectory.MANIFEST_FILE));
        for (Path file : files) info.addFiles(file(file));
        return info.setTrainShards(corpus.manifest().trainShards())
                .setTrainDocuments(corpus.manifest().trainDocuments())
                .setValidationDocuments(corpus.manifest().validationDocuments())
                .setAvailable(info.getFilesList().stream().allMatch(DatasetFile::getPresent))
                .build();
    }

    private static DatasetInfo preparingInfo(String name) {
        return DatasetInfo.newBuilder()
                .setName(name)
                .setKind(DatasetKind.DATASET_KIND_TRAINING_CORPUS)
                .setPreparing(true)
                .build();
    }

    private DatasetInfo zeroShotInfo(ZeroShotDataset dataset) {
        List<DatasetFile> files = ZERO_SHOT_SPLITS.stream()
                .map(dataset::rawFileName)
                .distinct()
                .map(name -> file(root.path().resolve(name)))
                .toList();
        return DatasetInfo.newBuilder()
                .setName(dataset.id())
                .setKind(DatasetKind.DATASET_KIND_ZERO_SHOT)
                .addAllFiles(files)
                .setAvailable(files.stream().anyMatch(DatasetFile::getPresent))
                .build();
    }

    private DatasetFile file(Path file) {
        return DatasetFile.newBuilder()
                .setPath(root.path().relativize(file).toString())
                .setPresent(Files.isRegularFile(file))
                .build();
    }
}

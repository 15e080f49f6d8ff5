package plaid.data;

import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import plaid.service.InvalidArgument;
import plaid.text.Owt2Preparer;
import plaid.text.ZeroShotDataset;
import plaid.v1.DatasetFile;
import plaid.v1.DatasetInfo;
import plaid.v1.DatasetKind;
import plaid.v1.Split;

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
        List<DatasetInfo> datasets = new ArrayList<>();
        if (Files.isDirectory(root.corpora())) {
            try (Stream<Path> folders = Files.list(root.corpora())) {
                // Names starting with '.' are preparations still being built.
                for (Path folder : folders.filter(Files::isDirectory)
                        .filter(f -> !f.getFileName().toString().startsWith("."))
                        .sorted()
                        .toList()) datasets.add(corpusInfo(folder));
            }
        }
        for (ZeroShotDataset dataset : ZeroShotDataset.values()) datasets.add(zeroShotInfo(dataset));
        return datasets;
    }

    /** The shard files StreamBatches reads for {@code split} of a corpus; NOT_FOUND if the corpus is absent. */
    public List<Path> shards(String corpus, Split split) {
        Path folder = root.corpus(corpus, "corpus");
        if (!Files.isRegularFile(Owt2Preparer.validationFile(folder)))
            throw Status.NOT_FOUND
                    .withDescription("corpus '" + corpus + "' not found; see ListDatasets")
                    .asRuntimeException();
        return switch (split) {
            case SPLIT_VALIDATION -> List.of(Owt2Preparer.validationFile(folder));
            case SPLIT_TRAIN, SPLIT_UNSPECIFIED -> trainShards(folder);
            case UNRECOGNIZED -> throw InvalidArgument.of("split", "is not a known split");
        };
    }

    private DatasetInfo corpusInfo(Path folder) {
        List<Path> files = new ArrayList<>(trainShards(folder));
        files.addFirst(Owt2Preparer.validationFile(folder));
        DatasetInfo.Builder info = DatasetInfo.newBuilder()
                .setName(folder.getFileName().toString())
                .setKind(DatasetKind.DATASET_KIND_TRAINING_CORPUS)
                .setTrainShards(files.size() - 1)
                .setAvailable(Files.isRegularFile(files.getFirst()) && files.size() > 1);
        for (Path file : files) info.addFiles(file(file));
        return info.build();
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

    /** Train shards 0, 1, ... as far as they exist. */
    private static List<Path> trainShards(Path folder) {
        List<Path> shards = new ArrayList<>();
        for (int shard = 0; Files.isRegularFile(Owt2Preparer.trainFile(folder, shard)); shard++)
            shards.add(Owt2Preparer.trainFile(folder, shard));
        return shards;
    }
}

package plaid.text;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A training corpus folder: the one place its layout is spelled.
 *
 * <pre>
 * corpora/&lt;name&gt;/                     a ready corpus (a hidden corpora/.&lt;name&gt;.* is one being built)
 *   en_shuffled_val.jsonl              the validation split, one JSON string per line
 *   en_shuffled_train_0.jsonl ... _&lt;n-1&gt;.jsonl   the train shards (the original's file names)
 *   tokenizer.json                     the corpus's tokenizer (HF tokenizers JSON)
 *   corpus.json                        the manifest, written last: the corpus is READY once it exists
 * </pre>
 *
 * <p>Builders write into a hidden sibling ({@link #buildingFolder}) and move it into place
 * whole, so a reader sees a corpus complete or not at all. Every reader of a corpus
 * (data-svc's StreamBatches, the trainer's jobs) makes its streams with {@link #stream}.
 */
public final class CorpusDirectory {
    /** The folder under a data root that holds the corpora. */
    public static final String CORPORA = "corpora";

    public static final String VALIDATION_FILE = "en_shuffled_val.jsonl";
    public static final String TOKENIZER_FILE = BpeTokenizer.FILE_NAME;
    public static final String MANIFEST_FILE = "corpus.json";

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}");
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Which documents a stream reads. */
    public enum Split {
        TRAIN,
        VALIDATION
    }

    /** Where a corpus name stands under a data root. */
    public enum State {
        /** The manifest is there: the corpus is complete. */
        READY,
        /** Only a hidden folder being built exists. */
        PREPARING,
        /** The folder exists without a manifest (copied by hand, or left by an older version). */
        INCOMPLETE,
        ABSENT
    }

    /**
     * What the corpus holds, {@value #MANIFEST_FILE}.
     *
     * @param source how it was made: "owt2" (PrepareDataset), "job" (a trainer job's own split), ...
     */
    public record Manifest(String source, int trainShards, long trainDocuments, long validationDocuments) {
        public Manifest {
            if (trainShards < 1) throw new IllegalArgumentException("trainShards must be >= 1, got " + trainShards);
        }
    }

    private final Path folder;
    private final Manifest manifest;

    private CorpusDirectory(Path folder, Manifest manifest) {
        this.folder = folder;
        this.manifest = manifest;
    }

    /** Whether {@code name} is a plain corpus name: 1-64 of [A-Za-z0-9._-], not starting with '.'. */
    public static boolean isName(String name) {
        return NAME.matcher(name).matches();
    }

    /** {@code <dataRoot>/corpora/<name>}; the name must be {@link #isName plain}. */
    public static Path folder(Path dataRoot, String name) {
        if (!isName(name)) throw new IllegalArgumentException("not a corpus name: '" + name + "'");
        return dataRoot.resolve(CORPORA).resolve(name);
    }

    public static State state(Path dataRoot, String name) throws IOException {
        Path folder = folder(dataRoot, name);
        if (Files.isDirectory(folder))
            return Files.isRegularFile(folder.resolve(MANIFEST_FILE)) ? State.READY : State.INCOMPLETE;
        Path corpora = dataRoot.resolve(CORPORA);
        if (!Files.isDirectory(corpora)) return State.ABSENT;
        try (DirectoryStream<Path> building = Files.newDirectoryStream(corpora, "." + name + ".*")) {
            return building.iterator().hasNext() ? State.PREPARING : State.ABSENT;
        }
    }

    /** A fresh hidden folder beside where corpus {@code name} will be, to build it in. */
    public static Path buildingFolder(Path dataRoot, String name) throws IOException {
        Path corpora = Files.createDirectories(folder(dataRoot, name).getParent());
        return Files.createTempDirectory(corpora, "." + name + ".");
    }

    /** Whether a folder under corpora/ is one being built (hidden), not a corpus. */
    public static boolean isBuilding(Path folder) {
        return folder.getFileName().toString().startsWith(".");
    }

    /** A ready corpus; {@link IllegalStateException} when the folder has no manifest. */
    public static CorpusDirectory open(Path folder) throws IOException {
        Path manifest = folder.resolve(MANIFEST_FILE);
        if (!Files.isRegularFile(manifest))
            throw new IllegalStateException("corpus " + folder.getFileName() + " has no " + MANIFEST_FILE
                    + ": it is incomplete or still being prepared");
        return new CorpusDirectory(folder, JSON.readValue(manifest.toFile(), Manifest.class));
    }

    public static Path validationFile(Path folder) {
        return folder.resolve(VALIDATION_FILE);
    }

    public static Path trainFile(Path folder, int shard) {
        return folder.resolve("en_shuffled_train_" + shard + ".jsonl");
    }

    /**
     * Completes a folder whose splits are written: copies the tokenizer in, then writes the
     * manifest (atomically, last), which makes the corpus READY.
     */
    public static CorpusDirectory seal(Path folder, Path tokenizer, Manifest manifest) throws IOException {
        for (int shard = 0; shard < manifest.trainShards(); shard++)
            if (!Files.isRegularFile(trainFile(folder, shard)))
                throw new IllegalStateException("train shard " + shard + " is missing");
        if (!Files.isRegularFile(validationFile(folder))) throw new IllegalStateException("validation split missing");
        Path tokenizerFile = folder.resolve(TOKENIZER_FILE);
        if (!tokenizer.equals(tokenizerFile)) Files.copy(tokenizer, tokenizerFile, StandardCopyOption.REPLACE_EXISTING);
        Path tmp = Files.createTempFile(folder, "." + MANIFEST_FILE, ".tmp");
        JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), manifest);
        Files.move(tmp, folder.resolve(MANIFEST_FILE), StandardCopyOption.ATOMIC_MOVE);
        return new CorpusDirectory(folder, manifest);
    }

    public Path folder() {
        return folder;
    }

    public Manifest manifest() {
        return manifest;
    }

    public Path tokenizerFile() {
        return folder.resolve(TOKENIZER_FILE);
    }

    public BpeTokenizer tokenizer() throws IOException {
        return BpeTokenizer.load(tokenizerFile());
    }

    /** The files a split reads, in the order the stream visits them. */
    public List<Path> shards(Split split) {
        if (split == Split.VALIDATION) return List.of(validationFile(folder));
        List<Path> shards = new ArrayList<>(manifest.trainShards());
        for (int shard = 0; shard < manifest.trainShards(); shard++) shards.add(trainFile(folder, shard));
        return shards;
    }

    /**
     * The stream of one data-parallel rank over a split: the original's document buffer and
     * shard dealing ({@link TokenStream.Config#withChunkBuffer}). Every service reads corpora
     * through here, so the same arguments give the same batches wherever they are read.
     */
    public TokenStream.Config stream(
            Split split, int seqLen, int batchSize, int chunkBufferSize, long seed, int rank, int worldSize) {
        return TokenStream.Config.withChunkBuffer(
                shards(split), seqLen, batchSize, chunkBufferSize, seed, rank, worldSize);
    }
}

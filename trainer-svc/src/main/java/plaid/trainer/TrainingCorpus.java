package plaid.trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import plaid.model.Trainer;
import plaid.options.PlaidConfig;
import plaid.service.InvalidArgument;
import plaid.text.BpeTokenizer;
import plaid.text.BpeTrainer;
import plaid.text.CorpusDirectory;
import plaid.text.DemoCorpus;
import plaid.text.DocumentFile;
import plaid.text.TokenStream;

/**
 * A job's text, always read as a {@link CorpusDirectory} with that corpus's tokenizer:
 * <ul>
 *   <li>a corpus of data-svc ({@code spec.corpus} a plain name such as {@code openwebtext2}),
 *       read in place under the corpus root (data-svc's root, mounted read-only);
 *   <li>the built-in {@value #DEMO} corpus, or a text/jsonl file under the run root: split into
 *       validation and training documents once per job, into a corpus folder of the job's own
 *       with the tokenizer the job uses (the configured one, or one trained on its documents).
 * </ul>
 * Either way the same corpus gives the same streams, so a resumed job reads exactly the batches
 * it would have read.
 */
@ApplicationScoped
public class TrainingCorpus {
    /** The corpus name of the English Europarl speeches that come with the build. */
    public static final String DEMO = "demo";
    /** Id 0, which TokenStream puts after every document. */
    static final String END_OF_TEXT = "<|endoftext|>";

    private static final int BYTE_SYMBOLS = 256;
    /** In a job's folder: which preparation of its data-svc corpus it reads. */
    static final String CORPUS_SEEN = "corpus.seen";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A job's corpus and its tokenizer. */
    public record Prepared(CorpusDirectory corpus, BpeTokenizer tokenizer) {
        public Path tokenizerFile() {
            return corpus.tokenizerFile();
        }
    }

    private final RunRoot root;
    private final TrainerServiceConfig config;
    /** By file and modification time: a corpus prepared again under the same name is read again. */
    private final ConcurrentMap<String, BpeTokenizer> corpusTokenizers = new ConcurrentHashMap<>();

    private volatile BpeTokenizer configuredTokenizer;

    TrainingCorpus(RunRoot root, TrainerServiceConfig config) {
        this.root = root;
        this.config = config;
    }

    /**
     * Submission checks: a data-svc corpus is ready (NOT_FOUND or FAILED_PRECONDITION naming
     * spec.corpus and what to run otherwise), a file corpus reads as documents (a bad line is
     * refused naming the file and line), and the tokenizer's ids fit the vocabulary.
     */
    public void check(String corpus, PlaidConfig options) {
        InvalidArgument.require(
                !corpus.isEmpty(),
                "spec.corpus",
                "must name a corpus of data-svc, a file under the run root or '" + DEMO + "'");
        Optional<CorpusDirectory> shared = sharedCorpus(corpus);
        if (shared.isPresent()) {
            requireVocabulary(corpusTokenizer(shared.get()), options, "corpus " + corpus);
            return;
        }
        if (!corpus.equals(DEMO)) {
            Path file = root.resolve(corpus, "spec.corpus");
            if (!Files.isRegularFile(file))
                throw Status.NOT_FOUND
                        .withDescription("spec.corpus '" + corpus + "' is neither a corpus of data-svc (see `plaid data"
                                + " list`) nor a file under the run root; prepare it with: plaid data prepare "
                                + (CorpusDirectory.isName(corpus) ? corpus : "NAME") + " --from DIR")
                        .asRuntimeException();
            checkDocuments(file, corpus);
        }
        Optional<BpeTokenizer> tokenizer = configuredTokenizer();
        if (tokenizer.isPresent()) requireVocabulary(tokenizer.get(), options, "tokenizer");
        else
            InvalidArgument.require(
                    options.vocabSize >= BYTE_SYMBOLS + 1,
                    "spec.shape.vocab_size",
                    "must be at least " + (BYTE_SYMBOLS + 1) + " to train a byte-level tokenizer, got "
                            + options.vocabSize);
    }

    private static void requireVocabulary(BpeTokenizer tokenizer, PlaidConfig options, String whose) {
        InvalidArgument.require(
                tokenizer.vocabSize() <= options.vocabSize,
                "spec.shape.vocab_size",
                "must be at least the " + whose + "'s " + tokenizer.vocabSize() + " ids, got " + options.vocabSize);
    }

    /**
     * The ready data-svc corpus {@code name} names; empty when there is none of that name (so the
     * name may be a file); FAILED_PRECONDITION when it is being prepared or incomplete.
     */
    private Optional<CorpusDirectory> sharedCorpus(String name) {
        if (name.equals(DEMO) || !CorpusDirectory.isName(name)) return Optional.empty();
        Path corpusRoot = root.corpusRoot();
        try {
            return switch (CorpusDirectory.state(corpusRoot, name)) {
                case READY -> Optional.of(CorpusDirectory.open(CorpusDirectory.folder(corpusRoot, name)));
                case PREPARING ->
                    throw Status.FAILED_PRECONDITION
                            .withDescription("spec.corpus '" + name + "' is still being prepared by data-svc; submit"
                                    + " once `plaid data prepare " + name + "` has finished (`plaid data list`)")
                            .asRuntimeException();
                case INCOMPLETE ->
                    throw Status.FAILED_PRECONDITION
                            .withDescription("spec.corpus '" + name + "' is incomplete in data-svc (no "
                                    + CorpusDirectory.MANIFEST_FILE + "); remove corpora/" + name
                                    + " from data-svc's root and run: plaid data prepare " + name + " --from DIR")
                            .asRuntimeException();
                case ABSENT -> Optional.empty();
            };
        } catch (IOException e) {
            throw Status.FAILED_PRECONDITION
                    .withDescription(
                            "spec.corpus '" + name + "' cannot be read from data-svc's root: " + e.getMessage())
                    .asRuntimeException();
        }
    }

    private BpeTokenizer corpusTokenizer(CorpusDirectory corpus) {
        String key;
        try {
            key = corpus.tokenizerFile() + "@" + Files.getLastModifiedTime(corpus.tokenizerFile());
        } catch (IOException e) {
            key = corpus.tokenizerFile().toString();
        }
        return corpusTokenizers.computeIfAbsent(key, file -> {
            try {
                return corpus.tokenizer();
            } catch (IOException | RuntimeException e) {
                throw Status.FAILED_PRECONDITION
                        .withDescription("spec.corpus '" + corpus.folder().getFileName() + "' has no usable "
                                + CorpusDirectory.TOKENIZER_FILE + ": " + e.getMessage())
                        .asRuntimeException();
            }
        });
    }

    private static void checkDocuments(Path file, String corpus) {
        long[] documents = {0};
        try {
            DocumentFile.forEach(file, corpus, document -> documents[0]++);
        } catch (DocumentFile.BadDocumentException e) {
            throw InvalidArgument.of("spec.corpus", e.getMessage());
        } catch (IOException e) {
            throw Status.FAILED_PRECONDITION
                    .withDescription("spec.corpus " + corpus + " cannot be read: " + e.getMessage())
                    .asRuntimeException();
        }
        InvalidArgument.require(
                documents[0] >= 2,
                "spec.corpus",
                corpus + " has " + documents[0] + " documents; 2 are needed to hold one out");
    }

    /** The job's corpus: data-svc's, or the job's own folder, written unless an earlier run of the job did. */
    public Prepared prepare(String jobId, String corpus, PlaidConfig options) throws IOException {
        Optional<CorpusDirectory> shared = sharedCorpus(corpus);
        if (shared.isPresent()) {
            requireSameCorpus(jobId, shared.get());
            return new Prepared(shared.get(), corpusTokenizer(shared.get()));
        }
        Path folder = root.job(jobId).resolve("data");
        if (!Files.isRegularFile(folder.resolve(CorpusDirectory.MANIFEST_FILE)))
            writeJobCorpus(folder, corpus, options);
        CorpusDirectory own = CorpusDirectory.open(folder);
        return new Prepared(own, own.tokenizer());
    }

    /**
     * A job remembers which preparation of a data-svc corpus it started on (its manifest and
     * when that was written); a corpus prepared again under the same name since would give other
     * batches than the job's saved stream position means, so the job stops saying so.
     */
    private void requireSameCorpus(String jobId, CorpusDirectory corpus) throws IOException {
        Path manifest = corpus.folder().resolve(CorpusDirectory.MANIFEST_FILE);
        String identity = Files.getLastModifiedTime(manifest) + " " + Files.readString(manifest);
        Path seen = Files.createDirectories(root.job(jobId)).resolve(CORPUS_SEEN);
        if (!Files.isRegularFile(seen)) {
            Path tmp = Files.createTempFile(seen.getParent(), "." + CORPUS_SEEN, ".tmp");
            Files.writeString(tmp, identity);
            Files.move(tmp, seen, StandardCopyOption.ATOMIC_MOVE);
        } else if (!Files.readString(seen).equals(identity))
            throw new IllegalStateException("corpus " + corpus.folder().getFileName()
                    + " was prepared again since this job started; its batches would not continue the job's."
                    + " Submit a new job (resume_from a checkpoint keeps the weights)");
    }

    /** Holds out the first share of the documents for validation; the rest is the one train shard. */
    private void writeJobCorpus(Path folder, String corpus, PlaidConfig options) throws IOException {
        List<String> documents = documents(corpus);
        if (documents.size() < 2)
            throw new IllegalStateException(
                    "corpus " + corpus + " has " + documents.size() + " documents; 2 are needed to hold one out");
        int held = Math.clamp(Math.round(documents.size() * config.validationShare()), 1, documents.size() - 1);
        List<String> train = documents.subList(held, documents.size());
        writeShard(CorpusDirectory.validationFile(folder), documents.subList(0, held));
        writeShard(CorpusDirectory.trainFile(folder, 0), train);
        Path tokenizerFile = folder.resolve(CorpusDirectory.TOKENIZER_FILE);
        Optional<BpeTokenizer> configured = configuredTokenizer();
        BpeTokenizer tokenizer = configured.isPresent()
                ? configured.get()
                : new BpeTrainer(options.vocabSize, List.of(END_OF_TEXT), 2).train(train.parallelStream());
        Path tmp = Files.createTempFile(folder, ".tokenizer", ".json");
        tokenizer.save(tmp);
        Files.move(tmp, tokenizerFile, StandardCopyOption.ATOMIC_MOVE);
        CorpusDirectory.seal(folder, tokenizerFile, new CorpusDirectory.Manifest("job", 1, train.size(), held));
    }

    /**
     * A job's stream of {@code split}: one row per call (the trainer asks for whole batches), the
     * corpus's document buffer and shards as data-svc's StreamBatches deals them to rank 0 of 1.
     */
    public TokenStream.Config streamConfig(Prepared data, CorpusDirectory.Split split, PlaidConfig options) {
        return streamConfig(data, split, options, config.shuffleBufferChunks());
    }

    /** The same outside the service (a cluster worker), with the service's trainer-svc.shuffle-buffer-chunks. */
    static TokenStream.Config streamConfig(
            Prepared data, CorpusDirectory.Split split, PlaidConfig options, int shuffleBufferChunks) {
        return data.corpus().stream(split, options.seqLen, 1, shuffleBufferChunks, options.seed, 0, 1);
    }

    /**
     * A cluster worker's view of what the coordinator's {@link #prepare} made: the job's own
     * corpus folder when it has one, else data-svc's corpus {@code corpus} under the corpus root.
     */
    static Prepared prepared(RunRoot root, String jobId, String corpus) throws IOException {
        Path own = root.job(jobId).resolve("data");
        CorpusDirectory directory = Files.isRegularFile(own.resolve(CorpusDirectory.MANIFEST_FILE))
                ? CorpusDirectory.open(own)
                : CorpusDirectory.open(CorpusDirectory.folder(root.corpusRoot(), corpus));
        return new Prepared(directory, directory.tokenizer());
    }

    /** {@code rows × seqLen} ids from a one-row stream. */
    public static Trainer.BatchSource batches(TokenStream stream) {
        return (rows, seqLen) -> {
            int[] ids = new int[rows * seqLen];
            for (int r = 0; r < rows; r++) System.arraycopy(stream.nextBatch()[0], 0, ids, r * seqLen, seqLen);
            return ids;
        };
    }

    private List<String> documents(String corpus) throws IOException {
        if (corpus.equals(DEMO)) return DemoCorpus.englishDocuments(config.demoDocuments());
        return DocumentFile.read(root.resolve(corpus, "spec.corpus"), corpus);
    }

    private static void writeShard(Path file, List<String> documents) throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = Files.createTempFile(file.getParent(), "." + file.getFileName(), ".tmp");
        List<String> lines = new ArrayList<>(documents.size());
        for (String document : documents) lines.add(JSON.writeValueAsString(document));
        Files.write(tmp, lines);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
    }

    private Optional<BpeTokenizer> configuredTokenizer() {
        if (config.tokenizer().isEmpty()) return Optional.empty();
        if (configuredTokenizer == null) {
            Path file = root.path().resolve(config.tokenizer().get());
            try {
                configuredTokenizer = BpeTokenizer.load(file);
            } catch (IOException | RuntimeException e) {
                throw Status.FAILED_PRECONDITION
                        .withDescription("cannot load the tokenizer " + file + " (config trainer-svc.tokenizer): "
                                + e.getMessage())
                        .asRuntimeException();
            }
        }
        return Optional.of(configuredTokenizer);
    }
}

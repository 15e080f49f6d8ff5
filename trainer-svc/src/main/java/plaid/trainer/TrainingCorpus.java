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
import plaid.model.Trainer;
import plaid.options.PlaidConfig;
import plaid.service.InvalidArgument;
import plaid.text.BpeTokenizer;
import plaid.text.BpeTrainer;
import plaid.text.DemoCorpus;
import plaid.text.DocumentFile;
import plaid.text.TokenStream;

/**
 * A job's text: the built-in demo corpus or a file under the run root, split into training
 * and validation documents and written into the job's folder as TokenStream shards (one JSON
 * string per line), with the tokenizer the job uses: the configured one, or one trained on
 * the training documents. Written once per job, so a resumed job reads exactly the same data.
 */
@ApplicationScoped
public class TrainingCorpus {
    /** The corpus name of the English Europarl speeches that come with the build. */
    public static final String DEMO = "demo";
    /** Id 0, which TokenStream puts after every document. */
    static final String END_OF_TEXT = "<|endoftext|>";

    private static final int BYTE_SYMBOLS = 256;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A job's prepared data; {@code tokenizerFile} holds {@code tokenizer}. */
    public record Prepared(BpeTokenizer tokenizer, Path tokenizerFile, Path trainShard, Path validShard) {}

    private final RunRoot root;
    private final TrainerServiceConfig config;
    private volatile BpeTokenizer configuredTokenizer;

    TrainingCorpus(RunRoot root, TrainerServiceConfig config) {
        this.root = root;
        this.config = config;
    }

    /**
     * Submission checks: the corpus exists and reads as documents (a bad line is refused
     * naming the file and line), and the tokenizer's ids fit the vocabulary.
     */
    public void check(String corpus, PlaidConfig options) {
        InvalidArgument.require(
                !corpus.isEmpty(), "spec.corpus", "must name a file under the run root or '" + DEMO + "'");
        if (!corpus.equals(DEMO)) {
            Path file = root.resolve(corpus, "spec.corpus");
            InvalidArgument.require(
                    Files.isRegularFile(file), "spec.corpus", "names no file under the run root: " + corpus);
            checkDocuments(file, corpus);
        }
        Optional<BpeTokenizer> tokenizer = configuredTokenizer();
        if (tokenizer.isPresent())
            InvalidArgument.require(
                    tokenizer.get().vocabSize() <= options.vocabSize,
                    "spec.shape.vocab_size",
                    "must be at least the tokenizer's " + tokenizer.get().vocabSize() + ", got " + options.vocabSize);
        else
            InvalidArgument.require(
                    options.vocabSize >= BYTE_SYMBOLS + 1,
                    "spec.shape.vocab_size",
                    "must be at least " + (BYTE_SYMBOLS + 1) + " to train a byte-level tokenizer, got "
                            + options.vocabSize);
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

    /** Writes the job's shards and tokenizer unless an earlier run of the job did. */
    public Prepared prepare(String jobId, String corpus, PlaidConfig options) throws IOException {
        Path dir = root.job(jobId);
        Path train = dir.resolve("data/train.jsonl"),
                valid = dir.resolve("data/valid.jsonl"),
                tokenizerFile = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(train)) {
            List<String> documents = documents(corpus);
            if (documents.size() < 2)
                throw new IllegalStateException(
                        "corpus " + corpus + " has " + documents.size() + " documents; 2 are needed to hold one out");
            int held = Math.clamp(Math.round(documents.size() * config.validationShare()), 1, documents.size() - 1);
            writeShard(valid, documents.subList(0, held));
            writeShard(train, documents.subList(held, documents.size()));
        }
        if (!Files.isRegularFile(tokenizerFile)) {
            Optional<BpeTokenizer> configured = configuredTokenizer();
            BpeTokenizer tokenizer = configured.isPresent()
                    ? configured.get()
                    : new BpeTrainer(options.vocabSize, List.of(END_OF_TEXT), 2)
                            .train(readShard(train).parallelStream());
            Path tmp = Files.createTempFile(dir, ".tokenizer", ".json");
            tokenizer.save(tmp);
            Files.move(tmp, tokenizerFile, StandardCopyOption.ATOMIC_MOVE);
        }
        return new Prepared(BpeTokenizer.load(tokenizerFile), tokenizerFile, train, valid);
    }

    /** The shard's stream as the job reads it, one row per call (the trainer asks for whole batches). */
    public TokenStream.Config streamConfig(Path shard, PlaidConfig options) {
        return streamConfig(shard, options, config.shuffleBufferChunks());
    }

    /** The same, outside the service (a cluster worker), with the service's trainer-svc.shuffle-buffer-chunks. */
    static TokenStream.Config streamConfig(Path shard, PlaidConfig options, int shuffleBufferChunks) {
        return TokenStream.Config.withChunkBuffer(
                List.of(shard), options.seqLen, 1, shuffleBufferChunks, options.seed, 0, 1);
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

    /** The documents of a shard this class wrote. */
    private static List<String> readShard(Path file) throws IOException {
        return DocumentFile.read(file, file.getFileName().toString());
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

package plaid.text;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;

/**
 * The original's endless training stream over OWT2 shards (one JSON string per line):
 * each shard read from a random line with wrap-around, a rolling shuffle of documents,
 * tokenization in groups, an end-of-text id after every document, cutting into
 * {@code seqLen} chunks, a rolling shuffle of chunks, and batching.
 *
 * <p>Unlike the original, every random choice comes from one generator seeded by
 * {@code (seed, rank)}, so a stream is reproducible, and {@link #state()} captures
 * everything needed to {@link #resume} at exactly the next batch (the shuffle buffers
 * included, so a state holds up to {@code chunkBufferSize * seqLen} tokens). The rolling
 * shuffles pick uniformly from the whole buffer (the original never picks the last slot).
 * Not thread-safe; one instance per data-parallel rank.
 */
public final class TokenStream {
    /** Id 0 ends every document, as in the original. */
    public static final int END_OF_TEXT_ID = 0;

    private static final int TOKENIZE_GROUP = 64;
    /** Documents held by the original's rolling document shuffle. */
    private static final int ORIGINAL_DOCUMENT_BUFFER = 10;

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param shards             shard files, e.g. {@link CorpusDirectory#trainFile} 0..7
     * @param documentBufferSize the original uses 10
     * @param chunkBufferSize    the original uses 256,000,000 / seqLen
     * @param rank               this data-parallel rank; it starts at shard {@code rank * (shards / worldSize)}
     */
    public record Config(
            List<Path> shards,
            int seqLen,
            int batchSize,
            int documentBufferSize,
            int chunkBufferSize,
            long seed,
            int rank,
            int worldSize) {
        public Config {
            shards = List.copyOf(shards);
            if (shards.isEmpty()) throw new IllegalArgumentException("no shards");
            if (seqLen < 1 || batchSize < 1 || documentBufferSize < 1 || chunkBufferSize < 1)
                throw new IllegalArgumentException("seqLen, batchSize and buffer sizes must be positive");
            if (rank < 0 || rank >= worldSize)
                throw new IllegalArgumentException("rank " + rank + " is not in [0, " + worldSize + ")");
            // As the original: a world that is a multiple of the shard count wraps onto the shards.
            int effectiveWorld = worldSize % shards.size() == 0 ? shards.size() : worldSize;
            if (shards.size() % effectiveWorld != 0)
                throw new IllegalArgumentException(
                        shards.size() + " shards cannot be divided among " + worldSize + " ranks");
        }

        /** The original's buffer sizes. */
        public static Config original(
                List<Path> shards, int seqLen, int batchSize, long seed, int rank, int worldSize) {
            return withChunkBuffer(shards, seqLen, batchSize, 256_000_000 / seqLen, seed, rank, worldSize);
        }

        /** The original's document buffer with a chunk buffer of one's own (the services keep theirs smaller). */
        public static Config withChunkBuffer(
                List<Path> shards, int seqLen, int batchSize, int chunkBufferSize, long seed, int rank, int worldSize) {
            return new Config(
                    shards, seqLen, batchSize, ORIGINAL_DOCUMENT_BUFFER, chunkBufferSize, seed, rank, worldSize);
        }

        int firstShard() {
            int world = worldSize % shards.size() == 0 ? shards.size() : worldSize;
            return (rank % world) * (shards.size() / world);
        }
    }

    /**
     * Everything that determines the rest of a stream.
     *
     * @param shardVisits  shards started so far (the current one is {@code shardVisits - 1}, in rank order)
     * @param startLine    where the current shard visit began
     * @param linesRead    lines of the current visit consumed so far
     * @param carry        tokens not yet cut into a chunk
     */
    public record State(
            long random,
            long shardVisits,
            long startLine,
            long linesRead,
            List<String> documentBuffer,
            int[] carry,
            List<int[]> chunkBuffer,
            long batches) {
        public void write(Path file) throws IOException {
            try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(file)))) {
                out.writeLong(random);
                out.writeLong(shardVisits);
                out.writeLong(startLine);
                out.writeLong(linesRead);
                out.writeLong(batches);
                out.writeInt(documentBuffer.size());
                for (String document : documentBuffer) writeBytes(out, document.getBytes(StandardCharsets.UTF_8));
                writeInts(out, carry);
                out.writeInt(chunkBuffer.size());
                for (int[] chunk : chunkBuffer) writeInts(out, chunk);
            }
        }

        public static State read(Path file) throws IOException {
            try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file)))) {
                long random = in.readLong(),
                        shardVisits = in.readLong(),
                        startLine = in.readLong(),
                        linesRead = in.readLong(),
                        batches = in.readLong();
                List<String> documents = new ArrayList<>();
                for (int n = in.readInt(); n > 0; n--)
                    documents.add(new String(in.readNBytes(in.readInt()), StandardCharsets.UTF_8));
                int[] carry = readInts(in);
                List<int[]> chunks = new ArrayList<>();
                for (int n = in.readInt(); n > 0; n--) chunks.add(readInts(in));
                return new State(random, shardVisits, startLine, linesRead, documents, carry, chunks, batches);
            }
        }

        private static void writeBytes(DataOutputStream out, byte[] bytes) throws IOException {
            out.writeInt(bytes.length);
            out.write(bytes);
        }

        private static void writeInts(DataOutputStream out, int[] values) throws IOException {
            out.writeInt(values.length);
            for (int v : values) out.writeInt(v);
        }

        private static int[] readInts(DataInputStream in) throws IOException {
            int[] values = new int[in.readInt()];
            for (int i = 0; i < values.length; i++) values[i] = in.readInt();
            return values;
        }
    }

    private final BpeTokenizer tokenizer;
    private final Config config;
    private final Map<Path, Long> lineCounts = new HashMap<>();
    private final SplitMix64 random;
    private long shardVisits, startLine, linesRead, batches;
    private final List<String> documentBuffer;
    private int[] carry;
    private final List<int[]> chunkBuffer;
    private BufferedReader reader;

    private TokenStream(BpeTokenizer tokenizer, Config config, State state) {
        this.tokenizer = tokenizer;
        this.config = config;
        this.random = new SplitMix64(state.random());
        this.shardVisits = state.shardVisits();
        this.startLine = state.startLine();
        this.linesRead = state.linesRead();
        this.batches = state.batches();
        this.documentBuffer = new ArrayList<>(state.documentBuffer());
        this.carry = state.carry().clone();
        this.chunkBuffer = new ArrayList<>(state.chunkBuffer());
    }

    public static TokenStream start(BpeTokenizer tokenizer, Config config) {
        long seed = SplitMix64.mix(config.seed() ^ SplitMix64.mix(config.rank() + 1L));
        return new TokenStream(tokenizer, config, new State(seed, 0, 0, 0, List.of(), new int[0], List.of(), 0));
    }

    /** Continues a stream from a {@link #state()} taken with the same config and tokenizer. */
    public static TokenStream resume(BpeTokenizer tokenizer, Config config, State state) {
        return new TokenStream(tokenizer, config, state);
    }

    public State state() {
        return new State(
                random.state,
                shardVisits,
                startLine,
                linesRead,
                List.copyOf(documentBuffer),
                carry.clone(),
                List.copyOf(chunkBuffer),
                batches);
    }

    /** The next {@code [batchSize][seqLen]} batch of token ids. */
    public int[][] nextBatch() {
        return nextBatch(() -> false);
    }

    /**
     * As {@link #nextBatch()}, asking {@code stop} before tokenizing each group of documents;
     * once it answers true this ends with a {@link CancellationException} and the stream
     * must not be used again (a batch may be half made).
     */
    public int[][] nextBatch(BooleanSupplier stop) {
        int[][] batch = new int[config.batchSize()][];
        for (int row = 0; row < batch.length; row++) batch[row] = nextChunk(stop);
        batches++;
        return batch;
    }

    public long batchesServed() {
        return batches;
    }

    private int[] nextChunk(BooleanSupplier stop) {
        while (true) {
            int[] chunk = cutChunk(stop);
            if (chunkBuffer.size() < config.chunkBufferSize()) {
                chunkBuffer.add(chunk);
                continue;
            }
            return swapIntoBuffer(chunkBuffer, chunk);
        }
    }

    /** Rolling shuffle: the new element takes a random buffered one's place, which leaves. */
    private <T> T swapIntoBuffer(List<T> buffer, T incoming) {
        return buffer.set(random.nextInt(buffer.size()), incoming);
    }

    private int[] cutChunk(BooleanSupplier stop) {
        while (carry.length < config.seqLen()) {
            if (stop.getAsBoolean()) throw new CancellationException("stream stopped");
            tokenizeGroup();
        }
        int[] chunk = Arrays.copyOf(carry, config.seqLen());
        carry = Arrays.copyOfRange(carry, config.seqLen(), carry.length);
        return chunk;
    }

    private void tokenizeGroup() {
        List<String> group = new ArrayList<>(TOKENIZE_GROUP);
        while (group.size() < TOKENIZE_GROUP) group.add(nextShuffledDocument());
        // Encoded in parallel, appended in order: the result does not depend on threads.
        int[][] encoded = group.parallelStream().map(tokenizer::encode).toArray(int[][]::new);
        int total = carry.length
                + Arrays.stream(encoded).mapToInt(ids -> ids.length + 1).sum();
        int[] grown = Arrays.copyOf(carry, total);
        int at = carry.length;
        for (int[] ids : encoded) {
            System.arraycopy(ids, 0, grown, at, ids.length);
            at += ids.length;
            grown[at++] = END_OF_TEXT_ID;
        }
        carry = grown;
    }

    private String nextShuffledDocument() {
        while (true) {
            String document = nextDocument();
            if (documentBuffer.size() < config.documentBufferSize()) {
                documentBuffer.add(document);
                continue;
            }
            return swapIntoBuffer(documentBuffer, document);
        }
    }

    /** The next line of the shard rotation: each visit starts at a random line and wraps to it. */
    private String nextDocument() {
        try {
            while (shardVisits == 0 || linesRead == lineCount(currentShard())) {
                closeReader();
                shardVisits++;
                startLine = random.nextLong(lineCount(currentShard()));
                linesRead = 0;
            }
            long lines = lineCount(currentShard());
            long lineIndex = (startLine + linesRead) % lines;
            if (reader == null || lineIndex == 0) openAt(lineIndex);
            String line = reader.readLine();
            linesRead++;
            return JSON.readValue(line, String.class);
        } catch (IOException e) {
            throw new UncheckedIOException("reading shard " + currentShard(), e);
        }
    }

    private Path currentShard() {
        List<Path> shards = config.shards();
        return shards.get((int) Math.floorMod(config.firstShard() + shardVisits - 1, (long) shards.size()));
    }

    private void openAt(long lineIndex) throws IOException {
        closeReader();
        reader = Files.newBufferedReader(currentShard());
        for (long skipped = 0; skipped < lineIndex; skipped++) reader.readLine();
    }

    private void closeReader() throws IOException {
        if (reader != null) reader.close();
        reader = null;
    }

    private long lineCount(Path shard) {
        return lineCounts.computeIfAbsent(shard, path -> {
            try (var lines = Files.lines(path)) {
                long count = lines.count();
                if (count == 0) throw new IllegalArgumentException("shard " + path + " is empty");
                return count;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** A tiny generator whose whole state is one long, so it can be saved and restored. */
    private static final class SplitMix64 {
        long state;

        SplitMix64(long state) {
            this.state = state;
        }

        static long mix(long z) {
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }

        long next() {
            return mix(state += 0x9E3779B97F4A7C15L);
        }

        int nextInt(int bound) {
            return (int) nextLong(bound);
        }

        long nextLong(long bound) {
            return Math.floorMod(next(), bound);
        }
    }
}

package plaid.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.luben.zstd.ZstdOutputStream;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import plaid.text.BpeTokenizer;
import plaid.text.BpeTrainer;
import plaid.text.CorpusDirectory;
import plaid.text.Owt2Archives;
import plaid.text.Owt2Preparer;
import plaid.text.TokenStream;
import plaid.text.ZeroShotDataset;

/**
 * The data path's throughput, figures not a test: data-svc's preparation (documents/s from
 * generated OWT2-format {@code .jsonl.zst} archives to a corpus) and its batch streaming
 * (tokens/s of the document buffer at the small model's 256 × 256 batches, which StreamBatches
 * and the trainer's jobs both read through {@link CorpusDirectory#stream}), printed beside what
 * a small-model GPU training step consumes. Runs on the CPU; the GPU figure is the measured
 * step time recorded in docs/benchmarks-gpu.md.
 *
 * <p>Options (-D): {@code plaid.bench.documents} (default 20000), {@code plaid.bench.archives}
 * (4), {@code plaid.bench.batches} (32 timed batches after the buffer is full),
 * {@code plaid.bench.chunkBuffer} (4096, the services' default), {@code plaid.data} (a folder
 * with owt2_tokenizer.json; without it a 4096-id tokenizer is trained on the corpus, and the
 * figures say so).
 */
public final class DataPathBenchmark {
    /** docs/benchmarks-gpu.md, run 11 (2026-11-28, H200, bf16): training step, small, batch 256 × seq 256. */
    static final double SMALL_STEP_SECONDS = 0.3818;

    static final String SMALL_STEP_SOURCE =
            "docs/benchmarks-gpu.md run 11 (2026-11-28, H200, bf16): training step, small, 256 × 256, 381.8 ms";
    static final int SEQ_LEN = 256, BATCH = 256;
    /** OpenWebText2's documents (the release's README), for the time a full preparation would take. */
    static final long OWT2_DOCUMENTS = 17_103_059L;

    private static final ObjectMapper JSON = new ObjectMapper();

    private DataPathBenchmark() {}

    public static void main(String[] args) throws IOException {
        int documents = Integer.getInteger("plaid.bench.documents", 20_000);
        int archiveCount = Integer.getInteger("plaid.bench.archives", 4);
        int timedBatches = Integer.getInteger("plaid.bench.batches", 32);
        int chunkBuffer = Integer.getInteger("plaid.bench.chunkBuffer", 4096);
        Path work = Files.createTempDirectory("plaid-datapath-bench");
        try {
            run(work, documents, archiveCount, timedBatches, chunkBuffer);
        } finally {
            try (Stream<Path> files = Files.walk(work)) {
                for (Path f : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
            }
        }
    }

    private static void run(Path work, int documents, int archiveCount, int timedBatches, int chunkBuffer)
            throws IOException {
        System.out.printf(
                "data path benchmark: %d generated OWT2 documents in %d archives, %d CPU cores, Java %s%n",
                documents, archiveCount, Runtime.getRuntime().availableProcessors(), Runtime.version());
        Path raw = Files.createDirectories(work.resolve("raw"));
        long rawBytes = generate(raw, documents, archiveCount);

        Path folder = CorpusDirectory.buildingFolder(work, "owt2");
        Owt2Preparer.Report report;
        long start = System.nanoTime();
        try (Owt2Archives archives = Owt2Archives.open(raw, "source_dir")) {
            report = Owt2Preparer.prepare(
                    archives,
                    folder,
                    new Owt2Preparer.Options(0, Math.max(1, documents / 100), 8),
                    new Owt2Preparer.Progress(),
                    () -> false);
        }
        double prepareSeconds = (System.nanoTime() - start) / 1e9;
        double documentsPerSecond = report.documents() / prepareSeconds;

        String tokenizerName;
        Path tokenizerFile;
        Path owt2 = Path.of(System.getProperty("plaid.data", "absent")).resolve("owt2_tokenizer.json");
        if (Files.isRegularFile(owt2)) {
            tokenizerFile = owt2;
            tokenizerName = "the OWT2 tokenizer (32768 ids)";
        } else {
            List<String> sample = new ArrayList<>();
            for (String line : Files.readAllLines(CorpusDirectory.trainFile(folder, 0)))
                if (sample.size() < 2000) sample.add(JSON.readValue(line, String.class));
            BpeTokenizer trained = new BpeTrainer(4096, List.of("<|endoftext|>"), 2).train(sample.parallelStream());
            tokenizerFile = work.resolve(BpeTokenizer.FILE_NAME);
            trained.save(tokenizerFile);
            tokenizerName = "a tokenizer trained here (" + trained.vocabSize()
                    + " ids; pass -Dplaid.data for the OWT2 one, whose longer merges cost more)";
        }
        CorpusDirectory corpus = CorpusDirectory.seal(
                folder,
                tokenizerFile,
                new CorpusDirectory.Manifest("owt2", 8, report.trainDocuments(), report.validationDocuments()));

        TokenStream stream = TokenStream.start(
                corpus.tokenizer(), corpus.stream(CorpusDirectory.Split.TRAIN, SEQ_LEN, BATCH, chunkBuffer, 0, 0, 1));
        start = System.nanoTime();
        stream.nextBatch();
        double fillSeconds = (System.nanoTime() - start) / 1e9;
        start = System.nanoTime();
        for (int b = 0; b < timedBatches; b++) stream.nextBatch();
        double streamSeconds = (System.nanoTime() - start) / 1e9;
        double tokensPerSecond = (double) timedBatches * BATCH * SEQ_LEN / streamSeconds;
        double gpuTokensPerSecond = BATCH * SEQ_LEN / SMALL_STEP_SECONDS;

        System.out.printf("tokenizer: %s%n%n", tokenizerName);
        System.out.println("| figure | value | unit |");
        System.out.println("|---|---|---|");
        row("preparation (read, filter, shuffle, write 8 shards)", documentsPerSecond, "documents/s");
        row("preparation, compressed input", rawBytes / prepareSeconds / 1e6, "MB/s");
        row("a full OWT2 preparation at that rate", OWT2_DOCUMENTS / documentsPerSecond / 3600, "hours");
        row("streaming, first batch (fills " + chunkBuffer + " chunks)", fillSeconds, "s");
        row("streaming, 256 × 256 batches after the fill", tokensPerSecond, "tokens/s");
        row("small-model GPU training step consumes 256 × 256 / step time", gpuTokensPerSecond, "tokens/s");
        row("streaming ÷ GPU consumption", tokensPerSecond / gpuTokensPerSecond, "×");
        System.out.printf("%nGPU step time: %s.%n", SMALL_STEP_SOURCE);
        System.out.println("Streaming is one rank's stream on this machine's cores (tokenizing in parallel);"
                + " each data-parallel rank has its own. Over gRPC, StreamBatches adds message encoding.");
    }

    private static void row(String figure, double value, String unit) {
        System.out.printf("| %s | %.1f | %s |%n", figure, value, unit);
    }

    /**
     * OWT2 release lines: paragraph lists of OWT2's typical length, 5% not English. The words are
     * real English (the WikiText-2 validation text under -Dplaid.data, detokenized) when present,
     * else pseudo-words with a skewed frequency; the output says which.
     */
    private static long generate(Path raw, int documents, int archiveCount) throws IOException {
        Random random = new Random(1);
        Path wikitext = Path.of(System.getProperty("plaid.data", "absent")).resolve("wikitext2.valid.tokens");
        boolean realText = Files.isRegularFile(wikitext);
        String[] words;
        if (realText) {
            words = ZeroShotDataset.WIKITEXT2.read(wikitext).text().strip().split("\\s+");
            System.out.println("text: runs of words of the WikiText-2 validation text from random places");
        } else {
            words = new String[5000];
            for (int w = 0; w < words.length; w++) {
                StringBuilder word = new StringBuilder();
                int length = 1 + (int) Math.round(Math.abs(random.nextGaussian()) * 4);
                for (int c = 0; c < length; c++) word.append((char) ('a' + random.nextInt(26)));
                words[w] = word.toString();
            }
            System.out.println("text: pseudo-words (no wikitext2.valid.tokens under -Dplaid.data)");
        }
        long bytes = 0;
        for (int a = 0; a < archiveCount; a++) {
            Path archive = raw.resolve(String.format("2020-%02d.jsonl.zst", a + 1));
            try (Writer out = new BufferedWriter(new OutputStreamWriter(
                    new ZstdOutputStream(Files.newOutputStream(archive)), StandardCharsets.UTF_8))) {
                for (int d = a; d < documents; d += archiveCount) {
                    List<String> paragraphs = new ArrayList<>();
                    for (int p = 0, n = 3 + random.nextInt(8); p < n; p++) {
                        StringBuilder paragraph = new StringBuilder();
                        int at = random.nextInt(words.length);
                        for (int w = 0, m = 30 + random.nextInt(60); w < m; w++) {
                            int index = realText
                                    ? (at + w) % words.length
                                    : (int) (random.nextDouble() * random.nextDouble() * words.length);
                            paragraph.append(w == 0 ? "" : " ").append(words[index]);
                        }
                        paragraphs.add(
                                JSON.writeValueAsString(paragraph.append('.').toString()));
                    }
                    String lang = random.nextInt(20) == 0 ? "de" : "en";
                    out.write("{\"meta\":{\"lang\":\"" + lang + "\",\"url\":\"https://example.com/" + d
                            + "\"},\"text\":[" + String.join(",", paragraphs) + "]}\n");
                }
            }
            bytes += Files.size(archive);
        }
        return bytes;
    }
}

package plaid.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.function.ToLongFunction;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import plaid.text.BpeTokenizer;
import plaid.text.ZeroShotDataset;

/**
 * Tokenizer throughput on detokenized WikiText-2, in MB/s of UTF-8 input, on one thread
 * and on all threads. Each measurement uses a fresh tokenizer and reports the first pass
 * (word cache cold) and the best of the following passes (cache warm).
 *
 * <p>Run: {@code ./mvnw -q test -pl bench -am -Dbench -Dtest=TokenizerBenchmark -Dsurefire.failIfNoSpecifiedTests=false}
 * ({@code -Dplaid.bench.tokenizer=FILE} and {@code -Dplaid.bench.text=FILE} override the defaults,
 * {@code owt2_tokenizer.json} and {@code wikitext2.valid.tokens} under {@code -Dplaid.data}).
 */
@Tag("benchmark")
class TokenizerBenchmark {
    private static final int WARM_PASSES = 5;

    @Test
    void tokenizerThroughput() throws IOException {
        Path data = Path.of(System.getProperty("plaid.data", "../shared/data"));
        String tokenizerOverride = System.getProperty("plaid.bench.tokenizer"),
                textOverride = System.getProperty("plaid.bench.text");
        Path tokenizerFile =
                tokenizerOverride != null ? Path.of(tokenizerOverride) : data.resolve("owt2_tokenizer.json");
        Path rawFile = textOverride != null
                ? Path.of(textOverride)
                : data.resolve(ZeroShotDataset.WIKITEXT2.rawFileName("valid"));
        String text = ZeroShotDataset.WIKITEXT2.read(rawFile).text();
        double megabytes = text.getBytes(StandardCharsets.UTF_8).length / 1e6;
        // Lines are the unit of parallel work, as documents would be in training.
        List<String> lines = Arrays.asList(text.split("(?<=\n)"));
        int threads = ForkJoinPool.commonPool().getParallelism() + 1;
        System.out.printf("text: %s, %.2f MB, %d lines%n", rawFile, megabytes, lines.size());

        measure(
                "1 thread",
                tokenizerFile,
                megabytes,
                tokenizer -> lines.stream()
                        .mapToLong(line -> tokenizer.encode(line).length)
                        .sum());
        measure(
                threads + " threads",
                tokenizerFile,
                megabytes,
                tokenizer -> lines.parallelStream()
                        .mapToLong(line -> tokenizer.encode(line).length)
                        .sum());
    }

    private static void measure(
            String label, Path tokenizerFile, double megabytes, ToLongFunction<BpeTokenizer> encodeAll)
            throws IOException {
        BpeTokenizer tokenizer = BpeTokenizer.load(tokenizerFile);
        long start = System.nanoTime();
        long tokens = encodeAll.applyAsLong(tokenizer);
        double coldSeconds = (System.nanoTime() - start) / 1e9;
        double bestWarmSeconds = Double.MAX_VALUE;
        for (int pass = 0; pass < WARM_PASSES; pass++) {
            start = System.nanoTime();
            encodeAll.applyAsLong(tokenizer);
            bestWarmSeconds = Math.min(bestWarmSeconds, (System.nanoTime() - start) / 1e9);
        }
        System.out.printf(
                "%-12s %d tokens  cold %.1f MB/s  warm %.1f MB/s%n",
                label, tokens, megabytes / coldSeconds, megabytes / bestWarmSeconds);
    }
}

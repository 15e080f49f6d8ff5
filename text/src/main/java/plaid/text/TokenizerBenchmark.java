package plaid.text;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.function.ToLongFunction;

/**
 * Tokenizer throughput on detokenized WikiText-2, in MB/s of UTF-8 input, on one thread
 * and on all threads. Each measurement uses a fresh tokenizer and reports the first pass
 * (word cache cold) and the best of the following passes (cache warm).
 *
 * <p>Usage: {@code TokenizerBenchmark [tokenizer.json] [wikitext2 raw file]}; defaults
 * are {@code owt2_tokenizer.json} and {@code wikitext2.valid.tokens} under the
 * {@code plaid.data} directory ({@code ../shared/data}).
 */
public final class TokenizerBenchmark {
    private static final int WARM_PASSES = 5;

    private TokenizerBenchmark() {}

    public static void main(String[] args) throws IOException {
        Path data = Path.of(System.getProperty("plaid.data", "../shared/data"));
        Path tokenizerFile = args.length > 0 ? Path.of(args[0]) : data.resolve("owt2_tokenizer.json");
        Path rawFile = args.length > 1 ? Path.of(args[1]) : data.resolve(ZeroShotDataset.WIKITEXT2.rawFileName("valid"));
        String text = ZeroShotDataset.WIKITEXT2.read(rawFile).text();
        double megabytes = text.getBytes(StandardCharsets.UTF_8).length / 1e6;
        // Lines are the unit of parallel work, as documents would be in training.
        List<String> lines = Arrays.asList(text.split("(?<=\n)"));
        int threads = ForkJoinPool.commonPool().getParallelism() + 1;
        System.out.printf("text: %s, %.2f MB, %d lines%n", rawFile, megabytes, lines.size());

        measure("1 thread", tokenizerFile, megabytes, tokenizer -> lines.stream().mapToLong(line -> tokenizer.encode(line).length).sum());
        measure(threads + " threads", tokenizerFile, megabytes, tokenizer -> lines.parallelStream().mapToLong(line -> tokenizer.encode(line).length).sum());
    }

    private static void measure(String label, Path tokenizerFile, double megabytes, ToLongFunction<BpeTokenizer> encodeAll) throws IOException {
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
        System.out.printf("%-12s %d tokens  cold %.1f MB/s  warm %.1f MB/s%n", label, tokens, megabytes / coldSeconds, megabytes / bestWarmSeconds);
    }
}

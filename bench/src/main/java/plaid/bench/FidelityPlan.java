package plaid.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import plaid.model.Trainer.BatchSource;

/**
 * The token batches both trainings of a fidelity run read ({@link FidelityRun}; the original's side is
 * {@code gpu/fidelity_original.py}), fixed once in a folder so that neither side draws its own:
 * {@value #SPEC} holds, as NAME=VALUE lines, the run's train.py options ({@code train.NAME}) and the harness's own
 * ({@code fidelity.NAME}, among them the token file's path), {@value #WINDOWS} the start offsets, into
 * that token file, of every training window in step order ({@code steps × batch_size}) and then of every
 * validation window ({@code val_batches × val_batch_size}), little-endian int32.
 *
 * <p>The token stream is cut into chunks of {@value #WINDOWS_PER_CHUNK} windows; a seeded shuffle sends a
 * fraction of the chunks to validation, whose aligned windows form the fixed held-out set. Training
 * windows start anywhere inside the other chunks, so no training window overlaps a held-out token.
 */
record FidelityPlan(Map<String, String> trainOptions, Map<String, String> harness, int[] tokens, int[] windows) {
    static final String SPEC = "spec.txt", WINDOWS = "windows.i32";
    static final int WINDOWS_PER_CHUNK = 16;
    private static final String TRAIN = "train.", HARNESS = "fidelity.";

    /** Where each window starts: training windows in step order, then the held-out ones. */
    record Windows(int[] train, int[] validation) {}

    /**
     * Draws the windows from {@code seed}: {@code steps × batch} training windows and {@code valBatches ×
     * valBatch} held-out ones, over a stream of {@code tokenCount} tokens.
     *
     * @throws IllegalArgumentException naming the setting that does not fit the stream
     */
    static Windows draw(
            int tokenCount,
            int seqLen,
            int steps,
            int batch,
            int valBatch,
            int valBatches,
            double valFraction,
            long seed) {
        int chunk = WINDOWS_PER_CHUNK * seqLen;
        int chunks = tokenCount / chunk;
        if (chunks < 2)
            throw new IllegalArgumentException("seq_len " + seqLen + ": the " + tokenCount + " tokens make " + chunks
                    + " chunks of " + chunk + "; at least 2 are needed (one held out)");
        if (!(valFraction > 0 && valFraction < 1))
            throw new IllegalArgumentException("val_fraction must lie in (0, 1), got " + valFraction);
        int heldOut = Math.clamp(Math.round(valFraction * chunks), 1, chunks - 1);
        SplittableRandom rng = new SplittableRandom(seed);
        int[] order = shuffled(chunks, rng);

        int needed = valBatch * valBatches, available = heldOut * WINDOWS_PER_CHUNK;
        if (needed > available)
            throw new IllegalArgumentException("val_batches × val_batch_size = " + needed + " windows, but the "
                    + heldOut + " held-out chunks (val_fraction " + valFraction + ") hold " + available);
        int[] heldOutWindows = new int[available];
        for (int i = 0; i < available; i++)
            heldOutWindows[i] = order[i / WINDOWS_PER_CHUNK] * chunk + (i % WINDOWS_PER_CHUNK) * seqLen;
        int[] pick = shuffled(available, rng);
        int[] validation = new int[needed];
        for (int i = 0; i < needed; i++) validation[i] = heldOutWindows[pick[i]];

        int trainChunks = chunks - heldOut;
        int[] train = new int[Math.multiplyExact(steps, batch)];
        for (int i = 0; i < train.length; i++)
            train[i] = order[heldOut + rng.nextInt(trainChunks)] * chunk + rng.nextInt(chunk - seqLen + 1);
        return new Windows(train, validation);
    }

    private static int[] shuffled(int n, SplittableRandom rng) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1), t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        return a;
    }

    /** Writes the spec and the windows into {@code dir}. */
    static void write(Path dir, Map<String, String> trainOptions, Map<String, String> harness, Windows windows)
            throws IOException {
        Files.createDirectories(dir);
        // plain NAME=VALUE lines, sorted: what gpu/fidelity_original.py reads without a properties parser
        Map<String, String> lines = new TreeMap<>();
        trainOptions.forEach((k, v) -> lines.put(TRAIN + k, v));
        harness.forEach((k, v) -> lines.put(HARNESS + k, v));
        StringBuilder text = new StringBuilder();
        lines.forEach((k, v) -> {
            if (v.contains("\n")) throw new IllegalArgumentException(k + ": a value may not hold a line break");
            text.append(k).append('=').append(v).append('\n');
        });
        Files.writeString(dir.resolve(SPEC), text);
        int[] all = new int[windows.train().length + windows.validation().length];
        System.arraycopy(windows.train(), 0, all, 0, windows.train().length);
        System.arraycopy(windows.validation(), 0, all, windows.train().length, windows.validation().length);
        writeInts(dir.resolve(WINDOWS), all);
    }

    /** Reads a folder {@link #write} made, with the token file its spec names. */
    static FidelityPlan read(Path dir) throws IOException {
        Map<String, String> train = new LinkedHashMap<>(), harness = new TreeMap<>();
        for (String line : Files.readAllLines(dir.resolve(SPEC))) {
            int eq = line.indexOf('=');
            if (line.isBlank()) continue;
            if (eq < 0) throw new IOException(dir.resolve(SPEC) + ": '" + line + "' is not NAME=VALUE");
            String key = line.substring(0, eq), value = line.substring(eq + 1);
            if (key.startsWith(TRAIN)) train.put(key.substring(TRAIN.length()), value);
            else if (key.startsWith(HARNESS)) harness.put(key.substring(HARNESS.length()), value);
            else throw new IOException(dir.resolve(SPEC) + ": key '" + key + "' is neither train.* nor fidelity.*");
        }
        var plan = new FidelityPlan(
                train, harness, readInts(Path.of(required(harness, "tokens"))), readInts(dir.resolve(WINDOWS)));
        long expected = (long) plan.intOption("steps") * plan.intOption("batch_size")
                + (long) plan.validationBatches() * plan.intOption("val_batch_size");
        if (plan.windows.length != expected)
            throw new IOException(
                    dir.resolve(WINDOWS) + " holds " + plan.windows.length + " windows, the spec says " + expected);
        int seqLen = plan.intOption("seq_len");
        for (int start : plan.windows)
            if (start < 0 || start + seqLen > plan.tokens.length)
                throw new IOException(dir.resolve(WINDOWS) + ": a window at " + start + " runs past the "
                        + plan.tokens.length + " tokens of " + harness.get("tokens"));
        return plan;
    }

    int intOption(String name) {
        return Integer.parseInt(required(trainOptions, name).trim());
    }

    int intHarness(String name) {
        return Integer.parseInt(required(harness, name).trim());
    }

    /** Distinct held-out batches; a validation pass reads them {@code val_passes} times over. */
    int validationBatches() {
        return intHarness("val_batches");
    }

    /** The training batches in step order; reading past the last one is an error. */
    BatchSource trainBatches() {
        int seqLen = intOption("seq_len"), batch = intOption("batch_size"), steps = intOption("steps");
        int[] next = {0};
        return (rows, s) -> {
            check(rows, batch, s, seqLen, "batch_size");
            if (next[0] >= steps)
                throw new IllegalStateException("the plan holds " + steps + " training batches; a step asked for more");
            return gather(next[0]++ * batch, rows, seqLen);
        };
    }

    /** The held-out batches from the first, over and over: each validation pass starts a fresh source. */
    BatchSource validationBatches(int first) {
        int seqLen = intOption("seq_len"), batch = intOption("val_batch_size");
        int base = intOption("steps") * intOption("batch_size"), distinct = validationBatches();
        int[] next = {first};
        return (rows, s) -> {
            check(rows, batch, s, seqLen, "val_batch_size");
            return gather(base + (next[0]++ % distinct) * batch, rows, seqLen);
        };
    }

    private static void check(int rows, int planned, int seqLen, int plannedSeq, String what) {
        if (rows != planned || seqLen != plannedSeq)
            throw new IllegalArgumentException("asked for " + rows + " × " + seqLen + " tokens; the plan's " + what
                    + " × seq_len is " + planned + " × " + plannedSeq);
    }

    private int[] gather(int firstWindow, int rows, int seqLen) {
        int[] out = new int[rows * seqLen];
        for (int r = 0; r < rows; r++) System.arraycopy(tokens, windows[firstWindow + r], out, r * seqLen, seqLen);
        return out;
    }

    /** Σ (i+1)·id over a batch's ids, row-major: both sides print it for their first batches, to show they agree. */
    static long digest(int[] ids) {
        long sum = 0;
        for (int i = 0; i < ids.length; i++) sum += (i + 1L) * ids[i];
        return sum;
    }

    private static String required(Map<String, String> options, String name) {
        String v = options.get(name);
        if (v == null) throw new IllegalArgumentException("the fidelity spec has no " + name);
        return v;
    }

    static void writeInts(Path file, int[] values) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(values.length, 4)).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(values);
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.write(file, b.array());
    }

    static int[] readInts(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        if (bytes.length % 4 != 0)
            throw new IOException(file + ": " + bytes.length + " bytes is not a whole int32 count");
        int[] out = new int[bytes.length / 4];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out);
        return out;
    }
}

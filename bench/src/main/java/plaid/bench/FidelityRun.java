package plaid.bench;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.stream.IntStream;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.options.Option;
import plaid.options.OptionTable;
import plaid.options.PlaidConfig;
import plaid.text.BpeTokenizer;
import plaid.text.ZeroShotDataset;

/**
 * Our side of the fidelity check (issue 17; {@code gpu/fidelity.sh} runs both sides): the original's
 * train.py and our {@link Trainer} train the same shape on the same token batches, and their validation
 * NLL curves are compared. Three commands, each taking {@code --name=value} arguments:
 *
 * <ul>
 *   <li>{@code tokens --data=DIR --tokenizer=FILE --out=FILE}: WikiText-2's and PTB's validation text,
 *       detokenized as the original does and tokenized with the OWT2 tokenizer, as one int32 stream
 *       (id 0 between the two, the original's end-of-text), made once on the build machine;
 *   <li>{@code plan --tokens=FILE --out=DIR [--seed= --val_batches= --val_passes= --val_fraction=]
 *       [--TRAIN_PY_OPTION=VALUE ...]}: fixes the run's options and batches in {@code DIR}
 *       ({@link FidelityPlan}); shape defaults dim 384, 16 blocks, 6 heads, seq 256, batch 64, 1000
 *       steps, validation every 100 ({@code hook_freq}); the warm-ups default to train.py's, scaled
 *       from its 92000 steps to these;
 *   <li>{@code train DIR}: trains with our code on the backend of {@code -Dplaid.backend} (precision
 *       {@code -Dplaid.cuda.precision}), validating as train.py's hook does, and writes the curve to
 *       {@code DIR/ours.tsv} (the original's driver writes {@code DIR/original.tsv} alike).
 * </ul>
 */
public final class FidelityRun {
    /**
     * The original train.py's options a run passes to both sides, every one written into the plan with its
     * value (train.py's default unless given), so that neither side falls back on a default of its own. The
     * rest of train.py's options are the harness's (dataset, validation passes, printing, saving) or
     * cannot be expressed by one batch a step (grad_accum_steps).
     */
    private static final List<Option<?>> PASSED_ON = List.of(
            OptionTable.DIM,
            OptionTable.N_BLOCKS,
            OptionTable.N_HEADS,
            OptionTable.EMBED_DIM,
            OptionTable.SEQ_LEN,
            OptionTable.BATCH_SIZE,
            OptionTable.STEPS,
            OptionTable.HOOK_FREQ,
            OptionTable.VAL_BATCH_SIZE,
            OptionTable.LR,
            OptionTable.LR_WARMUP_STEPS,
            OptionTable.BIAS_WARMUP_STEPS,
            OptionTable.LR_DECAY,
            OptionTable.WEIGHT_DECAY,
            OptionTable.BETA1,
            OptionTable.BETA2,
            OptionTable.CLIP_QUANTILE,
            OptionTable.EMA,
            OptionTable.DECAY_TO_INIT,
            OptionTable.RECONST_WEIGHT,
            OptionTable.RECONST_BS_EMA,
            OptionTable.GAMMA_0,
            OptionTable.GAMMA_1,
            OptionTable.SELFCOND,
            OptionTable.N_SHORT_SEQS);

    private static final Set<String> HARNESS =
            Set.of("tokens", "out", "seed", "val_batches", "val_passes", "val_fraction");

    private FidelityRun() {}

    public static void main(String[] args) throws IOException {
        if (args.length == 0) throw new IllegalArgumentException("usage: FidelityRun tokens|plan|train ...");
        List<String> rest = List.of(args).subList(1, args.length);
        switch (args[0]) {
            case "tokens" -> tokens(flags(rest));
            case "plan" -> plan(flags(rest));
            case "train" -> {
                if (rest.size() != 1) throw new IllegalArgumentException("usage: FidelityRun train DIR");
                try (ComputeBackend be = ComputeBackends.fromSystemProperty()) {
                    train(Path.of(rest.getFirst()), be);
                }
            }
            default -> throw new IllegalArgumentException("unknown command '" + args[0] + "': tokens, plan or train");
        }
    }

    /** {@code --name=value} arguments by name, in their order. */
    static Map<String, String> flags(List<String> args) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String a : args) {
            int eq = a.indexOf('=');
            if (!a.startsWith("--") || eq < 3)
                throw new IllegalArgumentException("expected --name=value, got '" + a + "'");
            out.put(a.substring(2, eq), a.substring(eq + 1));
        }
        return out;
    }

    private static String required(Map<String, String> flags, String name) {
        String v = flags.get(name);
        if (v == null) throw new IllegalArgumentException("--" + name + " is required");
        return v;
    }

    static void tokens(Map<String, String> flags) throws IOException {
        Path data = Path.of(required(flags, "data")), out = Path.of(required(flags, "out"));
        BpeTokenizer tokenizer = BpeTokenizer.load(Path.of(required(flags, "tokenizer")));
        IntStream.Builder ids = IntStream.builder();
        for (ZeroShotDataset set : List.of(ZeroShotDataset.WIKITEXT2, ZeroShotDataset.PTB)) {
            int[] encoded = tokenizer.encode(
                    set.read(data.resolve(set.rawFileName("valid"))).text());
            for (int id : encoded) ids.add(id);
            ids.add(0);
            System.out.printf("%s valid: %d tokens%n", set.id(), encoded.length);
        }
        int[] all = ids.build().toArray();
        FidelityPlan.writeInts(out, all);
        System.out.printf("%d tokens (vocabulary %d) in %s%n", all.length, tokenizer.vocabSize(), out);
    }

    static void plan(Map<String, String> flags) throws IOException {
        Map<String, String> harness = new LinkedHashMap<>(), given = new LinkedHashMap<>();
        harness.put("seed", "1");
        harness.put("val_batches", "4");
        harness.put("val_passes", "2");
        harness.put("val_fraction", "0.2");
        // the shape that fits the GPU check's time (gpu/fidelity.sh): train.py's small model at batch 64
        given.put("batch_size", "64");
        given.put("steps", "1000");
        given.put("hook_freq", "100");
        Set<String> passedOn = new java.util.HashSet<>();
        for (Option<?> o : PASSED_ON) passedOn.add(o.name());
        flags.forEach((name, value) -> {
            if (HARNESS.contains(name)) harness.put(name, value);
            else if (passedOn.contains(name)) given.put(name, value);
            else {
                PlaidConfig.option(name); // refuses a name that is no option at all, naming it
                throw new IllegalArgumentException("--" + name
                        + " is not passed on to both sides: the harness sets it, or the original train.py lacks it");
            }
        });
        PlaidConfig defaults = PlaidConfig.defaults(), c = config(given);
        // train.py's warm-ups are for 92000 steps: the same fractions of this run, unless given
        if (!given.containsKey("lr_warmup_steps"))
            c.lrWarmupSteps = (int) Math.round((double) c.steps * defaults.lrWarmupSteps / defaults.steps);
        if (!given.containsKey("bias_warmup_steps"))
            c.biasWarmupSteps = (int) Math.round((double) c.steps * defaults.biasWarmupSteps / defaults.steps);
        c.validate();
        Map<String, String> train = new LinkedHashMap<>();
        for (Option<?> o : PASSED_ON) train.put(o.name(), String.valueOf(c.get(o)));

        Path tokensFile = Path.of(required(harness, "tokens")).toAbsolutePath();
        harness.put("tokens", tokensFile.toString());
        harness.put("vocab_size", Integer.toString(defaults.vocabSize));
        Path out = Path.of(required(harness, "out"));
        harness.remove("out");
        int[] tokens = FidelityPlan.readInts(tokensFile);
        int maxId = IntStream.of(tokens).max().orElse(-1);
        if (maxId >= defaults.vocabSize)
            throw new IllegalArgumentException(
                    tokensFile + " holds id " + maxId + ", beyond the vocabulary of " + defaults.vocabSize);
        int valBatches = Integer.parseInt(harness.get("val_batches")),
                valPasses = Integer.parseInt(harness.get("val_passes"));
        if (valBatches < 1 || valPasses < 1)
            throw new IllegalArgumentException(
                    "--val_batches and --val_passes must be ≥ 1, got " + valBatches + " and " + valPasses);
        var windows = FidelityPlan.draw(
                tokens.length,
                c.seqLen,
                c.steps,
                c.batchSize,
                c.valBatchSize,
                valBatches,
                Double.parseDouble(harness.get("val_fraction")),
                Long.parseLong(harness.get("seed")));
        FidelityPlan.write(out, train, harness, windows);
        System.out.printf(
                "plan in %s: %s; %d training windows, %d held-out windows of %d tokens, from %d tokens%n",
                out, train, windows.train().length, windows.validation().length, c.seqLen, tokens.length);
    }

    /** train.py's defaults with these options, checked by the option table (which names a refused one). */
    private static PlaidConfig config(Map<String, String> train) {
        PlaidConfig c = PlaidConfig.defaults();
        train.forEach(c::set);
        return c.validate();
    }

    /** Trains on {@code be} as the plan in {@code dir} says, writing {@code dir/ours.tsv}. */
    static void train(Path dir, ComputeBackend be) throws IOException {
        FidelityPlan plan = FidelityPlan.read(dir);
        PlaidConfig c = config(plan.trainOptions());
        c.vocabSize = plan.intHarness("vocab_size");
        c.validate();
        long seed = Long.parseLong(plan.harness().get("seed"));
        int perPass = plan.validationBatches() * plan.intHarness("val_passes");
        try (PrintWriter curve = new PrintWriter(Files.newBufferedWriter(dir.resolve("ours.tsv")), true)) {
            System.out.printf(
                    "[fidelity] ours on %s: %s%n",
                    be.name().equals("cuda")
                            ? "cuda, precision " + System.getProperty("plaid.cuda.precision", "default")
                            : be.name(),
                    plan.trainOptions());
            PlaidParameters params = PlaidParameters.initialize(c, be, seed);
            Trainer.BatchSource train = plan.trainBatches();
            boolean[] first = {true};
            Trainer trainer = new Trainer(
                    c,
                    params,
                    new RandomSource(seed),
                    (rows, seqLen) -> {
                        int[] ids = train.next(rows, seqLen);
                        if (first[0]) curve.printf("digest\ttrain0\t%d%n", FidelityPlan.digest(ids));
                        first[0] = false;
                        return ids;
                    },
                    0);
            curve.printf(
                    "digest\tval0\t%d%n",
                    FidelityPlan.digest(plan.validationBatches(0).next(c.valBatchSize, c.seqLen)));
            RandomSource evalSeeds = new RandomSource(seed);
            long start = System.nanoTime();
            // train.py's compute_nll: the held-out batches from the first, with this evaluation's noise
            BiConsumer<String, Integer> validate = (kind, done) -> {
                long t0 = System.nanoTime();
                double value = trainer.validationNll(
                        plan.validationBatches(0),
                        perPass,
                        c.valBatchSize,
                        evalSeeds.stream(kind, done, 0).nextLong());
                double elapsed = (System.nanoTime() - start) / 1e9;
                curve.printf(Locale.ROOT, "%s\t%d\t%.6f\t%.1f%n", kind, done, value, elapsed);
                System.out.printf(
                        Locale.ROOT,
                        "[fidelity] %s NLL after %d steps: %.4f (%d batches, %.1f s; %.1f s since the first step)%n",
                        kind,
                        done,
                        value,
                        perPass,
                        (System.nanoTime() - t0) / 1e9,
                        elapsed);
            };
            long windowStart = start;
            double loss = 0, nll = 0;
            for (int step = 0; step < c.steps; step++) {
                Trainer.StepMetrics m = trainer.step(step);
                loss += m.loss();
                nll += m.nll();
                int done = step + 1;
                if (done % c.hookFreq != 0 && step != 0) continue;
                // step 0 alone (kernels compile there), then the means over each hook_freq window
                int n = step == 0 ? 1 : Math.min(c.hookFreq, done - 1);
                System.out.printf(
                        Locale.ROOT,
                        "[fidelity] step %d: loss %.4f, nll %.4f (mean of %d), grad norm %.3f, lr factor %.3f, %.1f ms/step%n",
                        step,
                        loss / n,
                        nll / n,
                        n,
                        m.gradNorm(),
                        m.lrFactor(),
                        (System.nanoTime() - windowStart) / 1e6 / n);
                loss = nll = 0;
                if (done % c.hookFreq == 0) validate.accept("val", done);
                windowStart = System.nanoTime();
            }
            validate.accept("final", c.steps);
        }
    }
}

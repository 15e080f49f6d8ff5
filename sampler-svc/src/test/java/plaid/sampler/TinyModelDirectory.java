package plaid.sampler;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import plaid.backend.cpu.CpuBackend;
import plaid.model.CheckpointDirectory;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.model.TrainingCheckpoint;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.options.PlaidConfig;
import plaid.text.BpeTokenizer;
import plaid.text.BpeTrainer;

/**
 * Model directories as LoadModel reads them, made in seconds: a small BPE tokenizer trained
 * on a toy corpus, a model of that vocabulary trained a few steps on it with EMA on; its
 * live weights with config.json, and the trainer's checkpoint of the same moment (EMA
 * weights in the state dicts, live ones in the training state, no config.json).
 */
final class TinyModelDirectory {
    static final int SEQ_LEN = 32;
    static final int TRAINED_STEPS = 14;
    private static final String END_OF_TEXT = "<|endoftext|>";
    private static final List<String> WORDS =
            List.of("the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "park", "and", "slept");

    private TinyModelDirectory() {}

    /** The tiny models' shape (what their config.json says) over {@code tokenizer}'s vocabulary. */
    private static PlaidConfig shape(BpeTokenizer tokenizer) {
        PlaidConfig config = PlaidConfig.defaults();
        config.vocabSize = tokenizer.vocabSize();
        config.dim = 32;
        config.nBlocks = 2;
        config.nHeads = 2;
        config.embedDim = 16;
        config.seqLen = SEQ_LEN;
        return config;
    }

    static BpeTokenizer write(Path dir, Path trainerCheckpoint) throws IOException {
        Random random = new Random(3);
        List<String> corpus = IntStream.range(0, 200)
                .mapToObj(i -> {
                    StringBuilder doc = new StringBuilder();
                    for (int w = 0; w < 12; w++)
                        doc.append(w == 0 ? "" : " ").append(WORDS.get(random.nextInt(WORDS.size())));
                    return doc + "." + END_OF_TEXT;
                })
                .toList();
        BpeTokenizer tokenizer = new BpeTrainer(280, List.of(END_OF_TEXT), 2).train(corpus.stream());
        int[] stream = corpus.stream()
                .flatMapToInt(doc -> IntStream.of(tokenizer.encode(doc)))
                .toArray();

        PlaidConfig config = shape(tokenizer);
        config.batchSize = 4;
        config.lrWarmupSteps = 2;
        config.ema = 0.5;
        PlaidParameters parameters = PlaidParameters.initialize(config.validate(), new CpuBackend(), 1);
        SplittableRandom windows = new SplittableRandom(5);
        Trainer trainer = new Trainer(
                config,
                parameters,
                new RandomSource(1),
                (rows, seqLen) -> {
                    int[] batch = new int[rows * seqLen];
                    for (int r = 0; r < rows; r++)
                        System.arraycopy(stream, windows.nextInt(stream.length - seqLen), batch, r * seqLen, seqLen);
                    return batch;
                },
                0);
        // The original keeps the learning rate at 0 for the first 10 steps, while Adam's moments warm up.
        for (int step = 0; step < TRAINED_STEPS; step++) trainer.step(step);

        TrainingCheckpoint.saveWeights(parameters, dir, CheckpointFormat.SAFETENSORS);
        tokenizer.save(dir.resolve("tokenizer.json"));
        TrainingCheckpoint.save(trainer, TRAINED_STEPS - 1, trainerCheckpoint, CheckpointFormat.SAFETENSORS);
        tokenizer.save(trainerCheckpoint.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("config.json"), """
                {"dim": 32, "n_blocks": 2, "n_heads": 2, "embed_dim": 16, "vocab_size": %d, "seq_len": %d}
                """.formatted(tokenizer.vocabSize(), SEQ_LEN));
        return tokenizer;
    }

    /**
     * An untrained double_logit_reg model of the same shape and tokenizer in {@code dir}, its readouts
     * randomised so the two sets of logits differ.
     */
    static void writeDoubleLogitReg(Path dir, BpeTokenizer tokenizer) throws IOException {
        PlaidConfig config = shape(tokenizer);
        config.diffusionMode = "BoW_embedding_double_logit_reg";
        config.bowCumsumGamma = 0.5;
        PlaidParameters parameters = PlaidParameters.initialize(config.validate(), new CpuBackend(), 2);
        SplittableRandom rng = new SplittableRandom(6);
        for (var p : parameters.all()) {
            if (!p.name().startsWith("output_linear")) continue;
            float[] v = new float[(int) p.value().numel()];
            for (int i = 0; i < v.length; i++) v[i] = (float) (0.2 * rng.nextGaussian());
            parameters.backend().upload(v, p.value());
        }
        Files.createDirectories(dir);
        TrainingCheckpoint.saveWeights(parameters, dir, CheckpointFormat.SAFETENSORS);
        tokenizer.save(dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("config.json"), """
                {"dim": 32, "n_blocks": 2, "n_heads": 2, "embed_dim": 16, "vocab_size": %d, "seq_len": %d,
                 "diffusion_mode": "BoW_embedding_double_logit_reg", "BoW_cumsum_gamma": 0.5}
                """.formatted(tokenizer.vocabSize(), SEQ_LEN));
    }

    /** An untrained model of the tiny shape with its own small tokenizer and config.json, in {@code dir}: for tests that only load. */
    static void writeUntrained(Path dir) throws IOException {
        BpeTokenizer tokenizer = new BpeTrainer(280, List.of(END_OF_TEXT), 2)
                .train(WORDS.stream().map(w -> w + " " + w + "." + END_OF_TEXT));
        PlaidConfig config = shape(tokenizer);
        Files.createDirectories(dir);
        TrainingCheckpoint.saveWeights(
                PlaidParameters.initialize(config.validate(), new CpuBackend(), 3), dir, CheckpointFormat.SAFETENSORS);
        tokenizer.save(dir.resolve(CheckpointDirectory.TOKENIZER_FILE));
        CheckpointDirectory.writeConfig(dir, config);
    }
}

package plaid.sampler;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalInt;
import plaid.model.CheckpointDirectory;

/** Everything the sampler service reads from configuration ({@code application.properties}, env, -D). */
@ConfigMapping(prefix = "sampler-svc")
public interface SamplerServiceConfig {
    /** The only folder LoadModel may name checkpoints in. */
    @WithDefault("runs/models")
    Path modelRoot();

    /**
     * The HF tokenizer.json for models whose directory holds none; relative to
     * {@link #modelRoot()} unless absolute. Without either, a model takes token ids only.
     */
    @WithDefault(CheckpointDirectory.TOKENIZER_FILE)
    Path tokenizer();

    /** Where models run: cpu, cuda, or auto (CUDA when usable). */
    @WithDefault("auto")
    String backend();

    Limits limits();

    Batching batching();

    /** How Generate requests share the device (step-level continuous batching). */
    interface Batching {
        /**
         * Each model's row budget: rows × seq_len of the requests running and admitted together
         * (64 rows of 256 tokens by default); memory grows with it times the vocabulary.
         */
        @WithDefault("16384")
        long maxBatchTokens();

        /**
         * Whether waiting requests join a running batch at any step boundary; false runs batch at a
         * time (requests join only a batch that has emptied), the baseline the load benchmark compares with.
         */
        @WithDefault("true")
        boolean join();
    }

    /** Bounds that keep one request from taking the service's memory or time. */
    interface Limits {
        /** Models held at once. */
        @WithDefault("4")
        int maxModels();

        /** How long a model no Generate or Score names stays loaded (e.g. 30m); unset: until UnloadModel or restart. */
        Optional<Duration> idleUnload();

        /**
         * The longest seq_len Generate accepts, for every model; unset takes each model's
         * trained seq_len (config.json's seq_len).
         */
        OptionalInt maxSeqLen();

        /** Sequences in one Generate (its rows × seq_len must also fit the batch budget). */
        @WithDefault("64")
        int maxSamples();

        /** Reverse-diffusion steps in one Generate (sample.py's default is 4096). */
        @WithDefault("16384")
        int maxSteps();

        /**
         * Score calls waiting for the device, and Generate requests waiting beyond their model's
         * batch budget; one more is refused (RESOURCE_EXHAUSTED).
         */
        @WithDefault("16")
        int queueCapacity();

        /** Texts in one Score. */
        @WithDefault("256")
        int maxScoreTexts();

        /** Monte Carlo draws per text in one Score. */
        @WithDefault("1024")
        int maxScoreDraws();

        /** Characters of one Score text; only its first seq_len tokens are scored. */
        @WithDefault("100000")
        int maxScoreTextChars();
    }

    /** Progress events of a Generate whose request leaves progress_every at 0. */
    @WithDefault("64")
    int defaultProgressEvery();

    /** Monte Carlo draws per text of a Score whose request leaves draws at 0. */
    @WithDefault("16")
    int defaultScoreDraws();
}

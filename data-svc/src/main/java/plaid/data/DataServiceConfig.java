package plaid.data;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.nio.file.Path;
import java.time.Duration;
import plaid.text.CorpusDirectory;

/** Everything the data service reads from configuration ({@code application.properties}, env, -D). */
@ConfigMapping(prefix = "data-svc")
public interface DataServiceConfig {
    /** The only folder requests may name paths in; corpora are written to its {@code corpora/}. */
    @WithDefault("runs/data")
    Path root();

    /**
     * The HF tokenizer.json of Tokenize/Detokenize, copied into every corpus PrepareDataset makes
     * (absent: the corpus trains its own); a relative path is taken relative to {@link #root()}.
     */
    @WithDefault(CorpusDirectory.TOKENIZER_FILE)
    Path tokenizer();

    Limits limits();

    /** Bounds that keep one request from taking the service's memory or time. */
    interface Limits {
        /** Texts in one Tokenize, sequences in one Detokenize. */
        @WithDefault("1024")
        int maxTexts();

        /** Characters of one text to tokenize. */
        @WithDefault("1000000")
        int maxTextChars();

        /** Ids in one Detokenize request, all sequences together. */
        @WithDefault("1048576")
        int maxDetokenizeIds();

        @WithDefault("8192")
        int maxSeqLen();

        @WithDefault("4096")
        int maxBatchSize();

        /** Ids in one streamed batch (batch_size * seq_len); bounds the message size. */
        @WithDefault("1048576")
        int maxBatchTokens();

        @WithDefault("4096")
        int maxWorldSize();

        /** Chunks in one stream's rolling shuffle; each chunk holds seq_len ids. */
        @WithDefault("65536")
        int maxShuffleBufferChunks();

        /** StreamBatches running at once; each holds a shuffle buffer and a thread. */
        @WithDefault("16")
        int maxConcurrentStreams();

        @WithDefault("64")
        int maxTrainShards();

        /** Bytes of one line of a PrepareDataset archive; a longer line is counted malformed and skipped unread. */
        @WithDefault("33554432")
        int maxArchiveLineBytes();
    }

    /** Rolling-shuffle size of a stream whose request leaves it at 0. */
    @WithDefault("4096")
    int defaultShuffleBufferChunks();

    /** Train documents a corpus's own tokenizer is trained on when data-svc has none to copy. */
    @WithDefault("20000")
    int tokenizerTrainingDocuments();

    /** How often PrepareDataset reports that it is still running. */
    @WithDefault("2s")
    Duration prepareProgressInterval();
}

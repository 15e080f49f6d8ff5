package plaid.sampler;

import com.google.protobuf.Timestamp;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;
import plaid.options.bow.DiffusionMode;
import plaid.service.InvalidArgument;
import plaid.text.BpeTokenizer;
import plaid.v1.ModelInfo;
import plaid.v1.ModelShape;
import plaid.v1.TextOrTokens;

/**
 * A model held in device memory under its name, with the tokenizer its texts go through
 * ({@code null}: the model takes and gives token ids only).
 *
 * @param checkpoint the path as the request gave it, relative to the model root
 * @param requestedShape the shape options the request gave
 * @param config     the options the checkpoint was trained with, completed by the requested shape
 * @param maxSeqLen  the longest seq_len Generate accepts for it, and Score's chunk length
 */
record LoadedModel(
        String name,
        String checkpoint,
        boolean useEma,
        ModelShape requestedShape,
        PlaidConfig config,
        PlaidParameters parameters,
        BpeTokenizer tokenizer,
        int maxSeqLen,
        Instant loadedAt) {

    int vocabSize() {
        return config.vocabSize;
    }

    ModelInfo info() {
        ModelInfo.Builder info = ModelInfo.newBuilder()
                .setName(name)
                .setCheckpoint(checkpoint)
                .setVocabSize(vocabSize())
                .setMaxSeqLen(maxSeqLen)
                .setDim(config.dim)
                .setNBlocks(config.nBlocks)
                .setParameters(parameters.parameterCount())
                .setDevice(parameters.backend().name())
                .setLoadedAt(Timestamp.newBuilder()
                        .setSeconds(loadedAt.getEpochSecond())
                        .setNanos(loadedAt.getNano()))
                .setDiffusionMode(config.diffusionMode);
        if (config.bowCumsumGamma != null) info.setBowCumsumGamma(config.bowCumsumGamma);
        return info.build();
    }

    /** Whether its mode has a second logit head for use_secondary_logits (double_logit_reg). */
    boolean hasSecondaryLogits() {
        return config.diffusionMode().contains(DiffusionMode.Word.DOUBLE_LOGIT_REG);
    }

    /**
     * The ids of a text or token list from a request: a text through the tokenizer, ids
     * checked against the vocabulary. Unset gives no ids; callers decide whether that is allowed.
     */
    int[] tokens(TextOrTokens value, String field) {
        return switch (value.getValueCase()) {
            case TEXT -> {
                InvalidArgument.require(
                        tokenizer != null,
                        field,
                        "is a text, but model '" + name + "' has no tokenizer: give token ids");
                yield tokenizer.encode(value.getText());
            }
            case TOKENS -> {
                int[] ids = value.getTokens().getIdsList().stream()
                        .mapToInt(Integer::intValue)
                        .toArray();
                for (int i = 0; i < ids.length; i++)
                    InvalidArgument.require(
                            ids[i] >= 0 && ids[i] < vocabSize(),
                            field + ".tokens.ids[" + i + "]",
                            "must be in [0, " + vocabSize() + "), got " + ids[i]);
                yield ids;
            }
            case VALUE_NOT_SET -> new int[0];
        };
    }

    /** The texts of generated sequences; none when the model has no tokenizer. */
    List<String> decode(int[][] sequences, boolean skipSpecialTokens) {
        if (tokenizer == null) return List.of();
        return Arrays.stream(sequences)
                .map(ids -> tokenizer.decode(ids, skipSpecialTokens))
                .toList();
    }
}

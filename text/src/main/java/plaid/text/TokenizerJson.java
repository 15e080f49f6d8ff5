package plaid.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes the Hugging Face {@code tokenizer.json} layout for byte-level BPE.
 * Options that would change ids and are not implemented are rejected by name rather
 * than ignored, so a file that loads encodes as {@code tokenizers} would.
 */
final class TokenizerJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenizerJson() {}

    static BpeTokenizer read(Path path) throws IOException {
        JsonNode root = JSON.readTree(path.toFile());
        try {
            return parse(root);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(path + ": " + e.getMessage(), e);
        }
    }

    private static BpeTokenizer parse(JsonNode root) {
        requireAbsent(root, "normalizer", "normalizers are not supported");
        requireAbsent(root, "truncation", "truncation is not supported");
        requireAbsent(root, "padding", "padding is not supported");
        JsonNode preTokenizer = requireType(root, "pre_tokenizer", "ByteLevel");
        requireType(root, "decoder", "ByteLevel");
        JsonNode postProcessor = root.path("post_processor");
        if (!postProcessor.isMissingNode() && !postProcessor.isNull()) requireType(root, "post_processor", "ByteLevel");

        JsonNode model = requireType(root, "model", "BPE");
        if (model.path("dropout").isNumber() && model.path("dropout").doubleValue() > 0)
            throw new IllegalArgumentException("BPE dropout is not supported");
        for (String affix : List.of("continuing_subword_prefix", "end_of_word_suffix"))
            if (!model.path(affix).isNull()
                    && !model.path(affix).isMissingNode()
                    && !model.path(affix).asText().isEmpty())
                throw new IllegalArgumentException("model." + affix + " is not supported");
        for (String flag : List.of("fuse_unk", "byte_fallback"))
            if (model.path(flag).asBoolean(false))
                throw new IllegalArgumentException("model." + flag + "=true is not supported");

        Map<String, Integer> vocab = new LinkedHashMap<>();
        model.path("vocab")
                .properties()
                .forEach(e -> vocab.put(e.getKey(), e.getValue().intValue()));
        if (vocab.isEmpty()) throw new IllegalArgumentException("model.vocab is missing or empty");

        List<BpeTokenizer.Merge> merges = new ArrayList<>();
        for (JsonNode merge : model.path("merges")) merges.add(parseMerge(merge));

        List<AddedToken> addedTokens = new ArrayList<>();
        for (JsonNode token : root.path("added_tokens")) {
            if (token.path("single_word").asBoolean(false))
                throw new IllegalArgumentException(
                        "added token " + token.path("content") + ": single_word=true is not supported");
            addedTokens.add(new AddedToken(
                    token.path("id").intValue(),
                    token.path("content").asText(),
                    token.path("special").asBoolean(false),
                    token.path("lstrip").asBoolean(false),
                    token.path("rstrip").asBoolean(false)));
        }

        JsonNode unknown = model.path("unk_token");
        return new BpeTokenizer(
                vocab,
                merges,
                addedTokens,
                new ByteLevelPreTokenizer(
                        preTokenizer.path("add_prefix_space").asBoolean(true),
                        preTokenizer.path("use_regex").asBoolean(true)),
                model.path("ignore_merges").asBoolean(false),
                unknown.isNull() || unknown.isMissingNode() ? null : unknown.asText());
    }

    /** Merges are written either as {@code "left right"} (older files) or as {@code ["left", "right"]}. */
    private static BpeTokenizer.Merge parseMerge(JsonNode merge) {
        if (merge.isArray() && merge.size() == 2)
            return new BpeTokenizer.Merge(merge.get(0).asText(), merge.get(1).asText());
        if (merge.isTextual()) {
            String[] parts = merge.asText().split(" ", -1);
            if (parts.length == 2 && !parts[0].isEmpty() && !parts[1].isEmpty())
                return new BpeTokenizer.Merge(parts[0], parts[1]);
        }
        throw new IllegalArgumentException("merge " + merge + " is neither \"left right\" nor [left, right]");
    }

    private static void requireAbsent(JsonNode root, String field, String why) {
        if (!root.path(field).isNull() && !root.path(field).isMissingNode())
            throw new IllegalArgumentException(field + ": " + why);
    }

    private static JsonNode requireType(JsonNode root, String field, String type) {
        JsonNode node = root.path(field);
        if (!type.equals(node.path("type").asText()))
            throw new IllegalArgumentException(field + " must be of type " + type + " (byte-level BPE), found " + node);
        return node;
    }

    static void write(BpeTokenizer tokenizer, Path path) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (AddedToken token : tokenizer.addedTokens()) {
            added.addObject()
                    .put("id", token.id())
                    .put("content", token.content())
                    .put("single_word", false)
                    .put("lstrip", token.lstrip())
                    .put("rstrip", token.rstrip())
                    .put("normalized", false)
                    .put("special", token.special());
        }
        root.putNull("normalizer");
        ByteLevelPreTokenizer pre = tokenizer.preTokenizer();
        byteLevel(root.putObject("pre_tokenizer"), pre.addPrefixSpace(), true, pre.useRegex());
        // Hugging Face's own byte-level BPE files carry these two ids-neutral components.
        byteLevel(root.putObject("post_processor"), true, false, true);
        byteLevel(root.putObject("decoder"), true, true, true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout");
        tokenizer.unknownToken().ifPresentOrElse(t -> model.put("unk_token", t), () -> model.putNull("unk_token"));
        model.putNull("continuing_subword_prefix").putNull("end_of_word_suffix");
        model.put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", tokenizer.ignoreMerges());
        ObjectNode vocab = model.putObject("vocab");
        tokenizer.modelVocab().forEach(vocab::put);
        ArrayNode merges = model.putArray("merges");
        for (BpeTokenizer.Merge merge : tokenizer.merges())
            merges.addArray().add(merge.left()).add(merge.right());
        JSON.writer().with(SerializationFeature.INDENT_OUTPUT).writeValue(path.toFile(), root);
    }

    private static void byteLevel(ObjectNode node, boolean addPrefixSpace, boolean trimOffsets, boolean useRegex) {
        node.put("type", "ByteLevel")
                .put("add_prefix_space", addPrefixSpace)
                .put("trim_offsets", trimOffsets)
                .put("use_regex", useRegex);
    }
}

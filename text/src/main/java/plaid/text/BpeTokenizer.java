package plaid.text;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A byte-level BPE tokenizer that reads and writes Hugging Face {@code tokenizer.json}
 * files and produces the same ids as the {@code tokenizers} library for them.
 *
 * <p>Encoding: added tokens are cut out of the raw text first; the rest is split by the
 * GPT-2 pattern, each piece's UTF-8 bytes become alphabet characters, and merges are
 * applied lowest rank first, leftmost first. Pieces' ids are cached, so repeated words
 * cost one hash lookup. Instances are immutable apart from that cache and thread-safe.
 */
public final class BpeTokenizer {
    /** Hugging Face stops caching at this many words; so do we, to bound memory. */
    private static final int WORD_CACHE_CAPACITY = 100_000;

    private final Map<String, Integer> modelVocab;
    private final String[] tokenById;
    private final Map<String, Integer> idByToken;
    private final List<Merge> merges;
    private final Map<Long, Integer> mergeRankByPair;
    private final int[] mergedIdByRank;
    private final int[] idByByte;
    private final List<AddedToken> addedTokens;
    private final AddedTokenSplitter addedTokenSplitter;
    private final boolean[] specialById;
    private final ByteLevelPreTokenizer preTokenizer;
    private final boolean ignoreMerges;
    private final Integer unknownId;
    private final Map<String, int[]> wordCache = new ConcurrentHashMap<>();

    /** One merge rule: adjacent tokens {@code left}, {@code right} become {@code left + right}. */
    record Merge(String left, String right) {}

    BpeTokenizer(Map<String, Integer> vocab, List<Merge> merges, List<AddedToken> addedTokens,
                 ByteLevelPreTokenizer preTokenizer, boolean ignoreMerges, String unknownToken) {
        int size = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        for (AddedToken token : addedTokens) size = Math.max(size, token.id() + 1);
        this.modelVocab = sortedById(vocab);
        this.tokenById = new String[size];
        this.idByToken = new HashMap<>(vocab);
        vocab.forEach((token, id) -> {
            if (id < 0) throw new IllegalArgumentException("negative id " + id + " for token '" + token + "'");
            if (tokenById[id] != null) throw new IllegalArgumentException("id " + id + " used by both '" + tokenById[id] + "' and '" + token + "'");
            tokenById[id] = token;
        });
        this.specialById = new boolean[size];
        for (AddedToken token : addedTokens) {
            if (tokenById[token.id()] != null && !tokenById[token.id()].equals(token.content()))
                throw new IllegalArgumentException("added token '" + token.content() + "' reuses id " + token.id() + " of '" + tokenById[token.id()] + "'");
            tokenById[token.id()] = token.content();
            idByToken.put(token.content(), token.id());
            specialById[token.id()] = token.special();
        }
        this.merges = List.copyOf(merges);
        this.mergeRankByPair = new HashMap<>(merges.size() * 2);
        this.mergedIdByRank = new int[merges.size()];
        for (int rank = 0; rank < merges.size(); rank++) {
            Merge merge = merges.get(rank);
            String usedBy = "merge " + rank;
            int leftId = requireModelToken(merge.left(), usedBy), rightId = requireModelToken(merge.right(), usedBy);
            mergedIdByRank[rank] = requireModelToken(merge.left() + merge.right(), usedBy);
            mergeRankByPair.putIfAbsent(pairKey(leftId, rightId), rank);
        }
        this.idByByte = new int[256];
        for (int b = 0; b < 256; b++) idByByte[b] = vocab.getOrDefault(String.valueOf(ByteLevelAlphabet.charOf(b)), -1);
        this.addedTokens = List.copyOf(addedTokens);
        this.addedTokenSplitter = new AddedTokenSplitter(addedTokens);
        this.preTokenizer = preTokenizer;
        this.ignoreMerges = ignoreMerges;
        this.unknownId = unknownToken == null ? null : requireModelToken(unknownToken, "model.unk_token");
    }

    private static Map<String, Integer> sortedById(Map<String, Integer> vocab) {
        Map<String, Integer> sorted = new LinkedHashMap<>();
        vocab.entrySet().stream().sorted(Map.Entry.comparingByValue()).forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return Collections.unmodifiableMap(sorted);
    }

    private int requireModelToken(String token, String usedBy) {
        Integer id = idByToken.get(token);
        if (id == null) throw new IllegalArgumentException(usedBy + " needs token '" + token + "', which is not in the vocabulary");
        return id;
    }

    /** Reads a Hugging Face {@code tokenizer.json} of byte-level BPE kind. */
    public static BpeTokenizer load(Path path) throws IOException {
        return TokenizerJson.read(path);
    }

    /** Writes this tokenizer as a Hugging Face {@code tokenizer.json} that {@link #load} (and {@code tokenizers}) reads back. */
    public void save(Path path) throws IOException {
        TokenizerJson.write(this, path);
    }

    public int[] encode(String text) {
        IdBuffer ids = new IdBuffer(text.length() / 3 + 16);
        addedTokenSplitter.split(text, segment -> {
            switch (segment) {
                case AddedTokenSplitter.Token token -> ids.add(token.token().id());
                case AddedTokenSplitter.Text plain -> {
                    for (String piece : preTokenizer.split(plain.text())) ids.addAll(encodePiece(piece));
                }
            }
        });
        return ids.toArray();
    }

    /** Decodes ids to text, leaving out special tokens as Hugging Face's {@code decode} does by default. */
    public String decode(int[] ids) {
        return decode(ids, true);
    }

    /**
     * Decodes ids to text. Byte sequences that are not valid UTF-8 (a cut multi-byte
     * character) become U+FFFD, as in Hugging Face's lossy decoding.
     */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) {
            if (id < 0 || id >= tokenById.length || tokenById[id] == null) throw new IllegalArgumentException("unknown token id " + id);
            if (skipSpecialTokens && specialById[id]) continue;
            bytes.writeBytes(tokenBytes(tokenById[id]));
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    /** A token's bytes: alphabet characters map back to their bytes; a token with any other character (an added token) is its own UTF-8. */
    private static byte[] tokenBytes(String token) {
        byte[] bytes = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            int b = ByteLevelAlphabet.byteOf(token.charAt(i));
            if (b < 0) return token.getBytes(StandardCharsets.UTF_8);
            bytes[i] = (byte) b;
        }
        return bytes;
    }

    private int[] encodePiece(String piece) {
        int[] cached = wordCache.get(piece);
        if (cached != null) return cached;
        int[] ids = applyMerges(piece);
        if (wordCache.size() < WORD_CACHE_CAPACITY) wordCache.put(piece, ids);
        return ids;
    }

    private int[] applyMerges(String piece) {
        byte[] utf8 = piece.getBytes(StandardCharsets.UTF_8);
        if (ignoreMerges) {
            Integer whole = idByToken.get(ByteLevelAlphabet.encode(utf8));
            if (whole != null) return new int[] {whole};
        }
        int[] symbols = new int[utf8.length];
        int count = 0;
        for (byte b : utf8) {
            int id = idByByte[b & 0xFF];
            if (id >= 0) symbols[count++] = id;
            else if (unknownId != null) symbols[count++] = unknownId;
            // Without an unknown token Hugging Face drops symbols missing from the vocabulary.
        }
        while (count > 1) {
            int bestRank = Integer.MAX_VALUE, bestPosition = -1;
            for (int i = 0; i + 1 < count; i++) {
                Integer rank = mergeRankByPair.get(pairKey(symbols[i], symbols[i + 1]));
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    bestPosition = i;
                }
            }
            if (bestPosition < 0) break;
            symbols[bestPosition] = mergedIdByRank[bestRank];
            System.arraycopy(symbols, bestPosition + 2, symbols, bestPosition + 1, count - bestPosition - 2);
            count--;
        }
        return Arrays.copyOf(symbols, count);
    }

    private static long pairKey(int leftId, int rightId) {
        return ((long) leftId << 32) | (rightId & 0xFFFFFFFFL);
    }

    /** Number of ids, i.e. one more than the largest id. */
    public int vocabSize() {
        return tokenById.length;
    }

    public OptionalInt tokenId(String token) {
        Integer id = idByToken.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The token string of an id, in the byte-level alphabet (e.g. {@code "Ġthe"}) for model tokens. */
    public Optional<String> token(int id) {
        return id >= 0 && id < tokenById.length ? Optional.ofNullable(tokenById[id]) : Optional.empty();
    }

    List<Merge> merges() {
        return merges;
    }

    List<AddedToken> addedTokens() {
        return addedTokens;
    }

    ByteLevelPreTokenizer preTokenizer() {
        return preTokenizer;
    }

    boolean ignoreMerges() {
        return ignoreMerges;
    }

    Optional<String> unknownToken() {
        return unknownId == null ? Optional.empty() : Optional.of(tokenById[unknownId]);
    }

    /** The model's vocabulary (added tokens only where the model has them too), ordered by id. */
    Map<String, Integer> modelVocab() {
        return modelVocab;
    }

    /** A growable int array, so encoding does not box every id. */
    private static final class IdBuffer {
        private int[] ids;
        private int size;

        IdBuffer(int capacity) {
            ids = new int[capacity];
        }

        void add(int id) {
            if (size == ids.length) ids = Arrays.copyOf(ids, size * 2);
            ids[size++] = id;
        }

        void addAll(int[] more) {
            if (size + more.length > ids.length) ids = Arrays.copyOf(ids, Math.max(size * 2, size + more.length));
            System.arraycopy(more, 0, ids, size, more.length);
            size += more.length;
        }

        int[] toArray() {
            return Arrays.copyOf(ids, size);
        }
    }
}

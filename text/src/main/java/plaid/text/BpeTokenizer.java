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
 * applied lowest rank first, leftmost first ({@link BpeMerges}, O(n log n) in a piece's
 * length). Short pieces' ids are cached, so repeated words cost one hash lookup.
 * Instances are immutable apart from that cache and thread-safe.
 */
public final class BpeTokenizer {
    /** The name a tokenizer's HF file has in the folders that carry one (a corpus, a checkpoint). */
    public static final String FILE_NAME = "tokenizer.json";

    /** Hugging Face stops caching at this many words; so do we, to bound memory. */
    private static final int WORD_CACHE_CAPACITY = 100_000;
    /** Longer pieces are rare and not worth their memory; this bounds the cache to a few tens of MB. */
    private static final int MAX_CACHED_PIECE_CHARS = 64;

    private final Map<String, Integer> modelVocab;
    private final String[] tokenById;
    private final Map<String, Integer> idByToken;
    private final List<Merge> merges;
    private final BpeMerges bpeMerges;
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

    BpeTokenizer(
            Map<String, Integer> vocab,
            List<Merge> merges,
            List<AddedToken> addedTokens,
            ByteLevelPreTokenizer preTokenizer,
            boolean ignoreMerges,
            String unknownToken) {
        int size = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        for (AddedToken token : addedTokens) size = Math.max(size, token.id() + 1);
        this.modelVocab = sortedById(vocab);
        this.tokenById = new String[size];
        this.idByToken = new HashMap<>(vocab);
        vocab.forEach((token, id) -> {
            if (id < 0) throw new IllegalArgumentException("negative id " + id + " for token '" + token + "'");
            if (tokenById[id] != null)
                throw new IllegalArgumentException(
                        "id " + id + " used by both '" + tokenById[id] + "' and '" + token + "'");
            tokenById[id] = token;
        });
        this.specialById = new boolean[size];
        for (AddedToken token : addedTokens) {
            if (tokenById[token.id()] != null && !tokenById[token.id()].equals(token.content()))
                throw new IllegalArgumentException("added token '" + token.content() + "' reuses id " + token.id()
                        + " of '" + tokenById[token.id()] + "'");
            tokenById[token.id()] = token.content();
            idByToken.put(token.content(), token.id());
            specialById[token.id()] = token.special();
        }
        this.merges = List.copyOf(merges);
        int[][] pairs = new int[merges.size()][];
        int[] mergedIdByRank = new int[merges.size()];
        for (int rank = 0; rank < merges.size(); rank++) {
            Merge merge = merges.get(rank);
            String usedBy = "merge " + rank;
            pairs[rank] = new int[] {requireModelToken(merge.left(), usedBy), requireModelToken(merge.right(), usedBy)};
            mergedIdByRank[rank] = requireModelToken(merge.left() + merge.right(), usedBy);
        }
        this.bpeMerges = new BpeMerges(pairs, mergedIdByRank);
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
        vocab.entrySet().stream()
                .sorted(Map.Entry.comparingByValue())
                .forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return Collections.unmodifiableMap(sorted);
    }

    private int requireModelToken(String token, String usedBy) {
        Integer id = idByToken.get(token);
        if (id == null)
            throw new IllegalArgumentException(usedBy + " needs token '" + token + "', which is not in the vocabulary");
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
        return encode(text, Integer.MAX_VALUE);
    }

    /**
     * The first {@code maxIds} ids of {@link #encode(String)}, found without encoding the
     * rest of the text: pieces are encoded independently, so the ids of the leading pieces
     * are the leading ids of the whole.
     */
    public int[] encode(String text, int maxIds) {
        if (maxIds < 0) throw new IllegalArgumentException("maxIds must be >= 0, got " + maxIds);
        IdBuffer ids = new IdBuffer((int) Math.min(maxIds, text.length() / 3L + 16));
        addedTokenSplitter.split(text, segment -> {
            switch (segment) {
                case AddedTokenSplitter.Token token -> ids.add(token.token().id());
                case AddedTokenSplitter.Text plain ->
                    preTokenizer.forEachPiece(plain.text(), piece -> {
                        ids.addAll(encodePiece(piece));
                        return ids.size() < maxIds;
                    });
            }
            return ids.size() < maxIds;
        });
        return ids.toArray(maxIds);
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
            if (id < 0 || id >= tokenById.length || tokenById[id] == null)
                throw new IllegalArgumentException("unknown token id " + id);
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
        boolean cacheable = piece.length() <= MAX_CACHED_PIECE_CHARS;
        int[] cached = cacheable ? wordCache.get(piece) : null;
        if (cached != null) return cached;
        int[] ids = applyMerges(piece);
        if (cacheable && wordCache.size() < WORD_CACHE_CAPACITY) wordCache.put(piece, ids);
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
        return bpeMerges.apply(symbols, count);
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
            if (size == ids.length) ids = Arrays.copyOf(ids, Math.max(16, size * 2));
            ids[size++] = id;
        }

        void addAll(int[] more) {
            if (size + more.length > ids.length) ids = Arrays.copyOf(ids, Math.max(size * 2, size + more.length));
            System.arraycopy(more, 0, ids, size, more.length);
            size += more.length;
        }

        int size() {
            return size;
        }

        int[] toArray(int maxIds) {
            return Arrays.copyOf(ids, Math.min(size, maxIds));
        }
    }
}

package plaid.text;

/**
 * A token matched verbatim in raw text before pre-tokenization, as in a Hugging Face
 * tokenizer.json's {@code added_tokens}.
 *
 * @param lstrip the match also swallows the whitespace to its left
 * @param rstrip the match also swallows the whitespace to its right
 * @param special dropped by {@link BpeTokenizer#decode(int[])}
 */
record AddedToken(int id, String content, boolean special, boolean lstrip, boolean rstrip) {
    AddedToken {
        if (content.isEmpty()) throw new IllegalArgumentException("added token " + id + " has empty content");
    }

    static AddedToken special(int id, String content) {
        return new AddedToken(id, content, true, false, false);
    }
}

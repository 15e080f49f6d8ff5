package plaid.model.sampling;

/**
 * A Monte-Carlo estimate of the variational bound on a token sequence, with what the
 * paper's zero-shot tables derive from it.
 *
 * @param nllPerToken     Σ nll·tokens / Σ tokens over the evaluated chunks (nats)
 * @param standardError   standard error of {@code nllPerToken} over the samples (NaN for one sample)
 * @param samples         chunk evaluations made
 * @param evaluatedTokens tokens in those chunks (a chunk counts once per evaluation)
 * @param corpusTokens    tokens in the whole sequence: the count words and characters are per
 */
public record LikelihoodEstimate(
        double nllPerToken, double standardError, int samples, long evaluatedTokens, long corpusTokens) {

    public double wordsPerToken(long words) {
        return (double) words / corpusTokens;
    }

    /** exp(NLL per token · tokens / words): perplexity per word of the original text. */
    public double wordPerplexity(long words) {
        return Math.exp(nllPerToken * corpusTokens / words);
    }

    /** NLL per token · tokens / (characters · ln 2). */
    public double bitsPerCharacter(long characters) {
        return nllPerToken * corpusTokens / (characters * Math.log(2));
    }
}

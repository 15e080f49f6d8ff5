package plaid.model.sampling;

/** Receives intermediate decodes while sampling runs, so a service can stream progress. */
@FunctionalInterface
public interface PartialDecodeListener {
    /**
     * @param step   sampling steps completed so far (1..T)
     * @param tokens per sample, the argmax tokens of that step's model logits [N][S]
     */
    void onPartialDecode(int step, int[][] tokens);
}

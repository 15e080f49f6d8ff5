package plaid.model.head;

import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;

/**
 * One set of logits [rows·S, V] of a head, its softmax, and the gradient d/dlogits the caller writes for
 * the backward (the loss's or the guidance's).
 */
public record LogitSet(Tensor logits, Tensor probs, Tensor gradient) {

    static LogitSet allocate(ComputeBackend be, int tokens, int vocabSize) {
        return new LogitSet(
                be.allocate(tokens, vocabSize), be.allocate(tokens, vocabSize), be.allocate(tokens, vocabSize));
    }
}

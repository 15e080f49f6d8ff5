package plaid.model.head;

import plaid.backend.Tensor;

/**
 * What an {@link OutputHead}'s backward reads besides the logit gradients the caller wrote, and where it
 * writes: the caller's d/dx̂ {@code dXReconst} (may be null), whether to accumulate the head's parameter
 * gradients, d/dh into {@code dh}, the zb path's d/dz into {@code dz}, and sums into {@code dGamma} and
 * {@code dEmbedding} (rows with m = 1 send none there).
 */
public record HeadGradients(
        Tensor dXReconst, Tensor dEmbedding, boolean parameterGradients, Tensor dh, Tensor dz, double[] dGamma) {}

package plaid.model;

import plaid.backend.Tensor;

/**
 * One trainable tensor with its state-dict name, its gradient, and whether µP treats it
 * as matrix-like (both dimensions grow with width: learning rate scaled by 256/dim).
 */
public record Parameter(ParameterGroup group, String name, Tensor value, Tensor grad, boolean matrixLike) {

    public int[] shape() {
        return value.shape();
    }

    /** The name as the original's state dict has it, e.g. {@code blocks.0.attn_qkv.weight}. */
    @Override
    public String name() {
        return name;
    }
}

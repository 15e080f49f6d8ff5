package plaid.model;

import plaid.options.PlaidConfig;

/**
 * The four modules of the original, each saved as its own state dict {@code <file>.pt}
 * and optimised with its own learning rate and weight decay (train.py).
 */
public enum ParameterGroup {
    MODEL("model"),
    NOISE_SCHEDULE("noise_schedule"),
    GAMMA_BOUNDS("gamma_bounds"),
    EMBEDDING_MATRIX("embedding_matrix");

    private final String fileStem;

    ParameterGroup(String fileStem) {
        this.fileStem = fileStem;
    }

    /** The state-dict file name without extension, as the original saves it. */
    public String fileStem() {
        return fileStem;
    }

    /** Learning rate of the group before µP scaling: {@code lr} for the model, 1e-2 otherwise. */
    public double learningRate(PlaidConfig config) {
        return this == MODEL ? config.lr : 1e-2;
    }

    public double weightDecay(PlaidConfig config) {
        return switch (this) {
            case MODEL -> config.weightDecay;
            case GAMMA_BOUNDS -> 1e-3;
            case EMBEDDING_MATRIX -> config.weightDecayEmbed;
            case NOISE_SCHEDULE -> 0.0;
        };
    }
}

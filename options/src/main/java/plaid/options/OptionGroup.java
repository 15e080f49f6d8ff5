package plaid.options;

/**
 * Which typed part of a run an option belongs to; for the three that are plaid.v1 option
 * messages, the message ({@code plaid.v1.ModelShape}, …) and its field in {@code TrainingSpec}.
 */
public enum OptionGroup {
    /** What decides the parameters and the forward pass: {@code TrainingSpec.shape}, also LoadModel's shape. */
    SHAPE("shape"),
    /** The optimiser, its schedule and the loss weights: {@code TrainingSpec.optimization}. */
    OPTIMIZATION("optimization"),
    /** Cadence of metrics, validation and checkpoints, and the run's names: {@code TrainingSpec.reporting}. */
    REPORTING("reporting"),
    /** sample.py's options; the sample command takes them. */
    SAMPLING(null),
    /** Where a run starts and what it reads: the spec's own fields (corpus, seed, weights), not an option message. */
    RUN(null);

    private final String specField;

    OptionGroup(String specField) {
        this.specField = specField;
    }

    /** The field of {@code TrainingSpec} holding this group's message, or null when the group has none. */
    public String specField() {
        return specField;
    }
}

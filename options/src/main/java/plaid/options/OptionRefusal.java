package plaid.options;

/**
 * An option value that cannot work, with the option it belongs to (train.py's spelling) and
 * why, so that a caller names its own spelling of the option (a flag, a request field)
 * without reading the message.
 */
public final class OptionRefusal extends IllegalArgumentException {
    private final String option;
    private final String problem;

    public OptionRefusal(String option, String problem) {
        this(option, problem, null);
    }

    public OptionRefusal(String option, String problem, Throwable cause) {
        super("option " + option + " " + problem, cause);
        this.option = option;
        this.problem = problem;
    }

    /** The option as train.py spells it, e.g. {@code BoW_cumsum_gamma}. */
    public String option() {
        return option;
    }

    /** Why, without the option's name: e.g. {@code must be in [0, 1], got 2.0}. */
    public String problem() {
        return problem;
    }
}

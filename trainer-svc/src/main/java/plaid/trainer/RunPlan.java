package plaid.trainer;

import plaid.options.PlaidConfig;
import plaid.options.SpecOptions;
import plaid.service.InvalidArgument;
import plaid.v1.Reporting;
import plaid.v1.TrainingSpec;

/**
 * A spec turned into train.py's options ({@link SpecOptions}, which checks each against its range
 * in the option table, exactly as the cli's --validate-only does) plus the service's own
 * (checkpoint cadence and retention, devices).
 *
 * @param checkpointFreq a checkpoint every this many steps
 * @param keepCheckpoints the newest this many of the job's checkpoints are kept
 */
record RunPlan(PlaidConfig config, int checkpointFreq, int keepCheckpoints) {
    /** The plan, or INVALID_ARGUMENT naming the spec field (e.g. {@code spec.shape.n_heads}) that cannot work. */
    static RunPlan of(TrainingSpec spec, int defaultKeepCheckpoints) {
        PlaidConfig config;
        try {
            config = SpecOptions.config(spec);
        } catch (SpecOptions.Refusal refusal) {
            throw InvalidArgument.of(refusal.field(), refusal.problem());
        }
        Reporting reporting = spec.getReporting();
        int checkpointFreq = reporting.hasCheckpointFreq() ? reporting.getCheckpointFreq() : config.hookFreq;
        InvalidArgument.require(checkpointFreq > 0, "spec.reporting.checkpoint_freq", "must be positive");
        int keep = reporting.hasKeepCheckpoints() ? reporting.getKeepCheckpoints() : defaultKeepCheckpoints;
        InvalidArgument.require(keep > 0, "spec.reporting.keep_checkpoints", "must be positive");
        InvalidArgument.require(
                spec.getDevices() >= 0 && spec.getDevices() <= 1,
                "spec.devices",
                "must be 0 or 1: jobs train on the service's one compute backend, got " + spec.getDevices());
        return new RunPlan(config, checkpointFreq, keep);
    }

    /** Token ids one optimiser step consumes. */
    long tokensPerStep() {
        return (long) config.batchSize * config.gradAccumSteps * config.seqLen;
    }
}

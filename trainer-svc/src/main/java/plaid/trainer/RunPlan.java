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
 * @param devices data-parallel ranks on this machine (docs/data-parallel.md): GPUs on a CUDA
 *     service, CPU ranks with the in-process reference collective on a CPU one
 * @param zero ZeRO-1: the AdamW moments sharded over the data-parallel ranks (spec.zero = 1)
 */
record RunPlan(PlaidConfig config, int checkpointFreq, int keepCheckpoints, int devices, boolean zero) {
    /** More ranks than this is a typo, not a machine. */
    static final int MAX_DEVICES = 64;

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
        int devices = spec.getDevices() == 0 ? 1 : spec.getDevices();
        InvalidArgument.require(
                devices >= 1 && devices <= MAX_DEVICES,
                "spec.devices",
                "must be in [0, " + MAX_DEVICES + "] (0: one device), got " + spec.getDevices());
        InvalidArgument.require(
                config.batchSize % devices == 0,
                "spec.devices",
                "must divide batch_size " + config.batchSize
                        + " (each device takes an equal slice of every micro-batch), got " + devices);
        InvalidArgument.require(
                spec.getZero() == 0 || spec.getZero() == 1,
                "spec.zero",
                "must be 0 (off) or 1 (ZeRO-1: the AdamW moments sharded over the data-parallel ranks), got "
                        + spec.getZero());
        return new RunPlan(config, checkpointFreq, keep, devices, spec.getZero() == 1);
    }

    /** Token ids one optimiser step consumes. */
    long tokensPerStep() {
        return (long) config.batchSize * config.gradAccumSteps * config.seqLen;
    }
}

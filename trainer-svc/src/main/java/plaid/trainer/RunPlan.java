package plaid.trainer;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import plaid.model.PlaidConfig;
import plaid.service.InvalidArgument;
import plaid.v1.Reporting;
import plaid.v1.TrainingSpec;

import java.util.HashMap;
import java.util.Map;

/**
 * A spec turned into train.py's options plus the service's own (checkpoint cadence and
 * retention). Every set field of shape, optimization and reporting is the PlaidConfig option
 * of the same name, so a new option needs only its proto field.
 *
 * @param checkpointFreq a checkpoint every this many steps
 * @param keepCheckpoints the newest this many of the job's checkpoints are kept
 */
record RunPlan(PlaidConfig config, int checkpointFreq, int keepCheckpoints) {
    /** Spec fields named otherwise than their PlaidConfig option. */
    private static final Map<String, String> OPTION_OF_FIELD = Map.of("self_conditioning", "selfcond");
    /** Reporting fields that are the service's, not train.py's. */
    private static final int CHECKPOINT_FREQ = Reporting.CHECKPOINT_FREQ_FIELD_NUMBER, KEEP_CHECKPOINTS = Reporting.KEEP_CHECKPOINTS_FIELD_NUMBER;

    /** The plan, or INVALID_ARGUMENT naming the spec field (e.g. {@code spec.shape.n_heads}) that cannot work. */
    static RunPlan of(TrainingSpec spec, int defaultKeepCheckpoints) {
        PlaidConfig config = PlaidConfig.defaults();
        config.seed = spec.getSeed();
        Map<String, String> fieldOfOption = new HashMap<>();
        for (FieldDescriptor part : TrainingSpec.getDescriptor().getFields()) {
            if (part.getType() != FieldDescriptor.Type.MESSAGE || part.isRepeated()) continue;
            Message options = (Message) spec.getField(part);
            for (FieldDescriptor field : options.getDescriptorForType().getFields()) {
                if (part.getNumber() == TrainingSpec.REPORTING_FIELD_NUMBER
                        && (field.getNumber() == CHECKPOINT_FREQ || field.getNumber() == KEEP_CHECKPOINTS)) continue;
                String option = OPTION_OF_FIELD.getOrDefault(field.getName(), field.getName());
                fieldOfOption.put(option, "spec." + part.getName() + "." + field.getName());
                if (options.hasField(field)) config.set(option, options.getField(field).toString());
            }
        }
        try {
            config.validate();
        } catch (IllegalArgumentException e) {
            // PlaidConfig says "option <name> <why>"
            String[] optionAndWhy = e.getMessage().replaceFirst("^option ", "").split(" ", 2);
            throw InvalidArgument.of(fieldOfOption.getOrDefault(optionAndWhy[0], optionAndWhy[0]), optionAndWhy.length > 1 ? optionAndWhy[1] : "is invalid");
        }
        Reporting reporting = spec.getReporting();
        InvalidArgument.require(config.printFreq > 0, "spec.reporting.print_freq", "must be positive");
        InvalidArgument.require(config.valSteps > 0, "spec.reporting.val_steps", "must be positive");
        InvalidArgument.require(config.valBatchSize > 0, "spec.reporting.val_batch_size", "must be positive");
        InvalidArgument.require(config.finalValSteps >= 0, "spec.reporting.final_val_steps", "must not be negative");
        int checkpointFreq = reporting.hasCheckpointFreq() ? reporting.getCheckpointFreq() : config.hookFreq;
        InvalidArgument.require(checkpointFreq > 0, "spec.reporting.checkpoint_freq", "must be positive");
        int keep = reporting.hasKeepCheckpoints() ? reporting.getKeepCheckpoints() : defaultKeepCheckpoints;
        InvalidArgument.require(keep > 0, "spec.reporting.keep_checkpoints", "must be positive");
        InvalidArgument.require(spec.getDevices() >= 0 && spec.getDevices() <= 1, "spec.devices",
                "must be 0 or 1: jobs train on the service's one compute backend, got " + spec.getDevices());
        return new RunPlan(config, checkpointFreq, keep);
    }

    /** Token ids one optimiser step consumes. */
    long tokensPerStep() {
        return (long) config.batchSize * config.gradAccumSteps * config.seqLen;
    }
}

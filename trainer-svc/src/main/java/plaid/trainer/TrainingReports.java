package plaid.trainer;

import java.io.IOException;
import java.nio.file.Path;
import plaid.model.Trainer;
import plaid.v1.CheckpointInfo;
import plaid.v1.StepMetrics;
import plaid.v1.ValidationProgress;
import plaid.v1.ValidationResult;

/**
 * Where {@link TrainingLoop} reports: {@link #progress} in every process, the rest only in the
 * process holding global rank 0. The service's own jobs make them job events ({@link
 * TrainingRuns}); a cluster worker sends them to the coordinator ({@link
 * plaid.trainer.cluster.RankContext}).
 */
public interface TrainingReports {
    /** Optimiser steps done. */
    void progress(int stepsDone);

    void metrics(StepMetrics metrics);

    void validating(ValidationProgress progress);

    void validation(ValidationResult result);

    void message(String text);

    /** Adds files of the reporter's own to a checkpoint folder before it is recorded, on the primary rank's thread. */
    default void addToCheckpoint(Path dir, Trainer trainer, int done) throws IOException {}

    /** A checkpoint written under the run root, all its files in place; its path is relative to the root. */
    void checkpoint(CheckpointInfo checkpoint) throws IOException;
}

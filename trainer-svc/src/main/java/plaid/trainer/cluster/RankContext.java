package plaid.trainer.cluster;

import plaid.trainer.TrainingReports;
import plaid.v1.CheckpointInfo;

/**
 * The ranks' side of the rendezvous while they run: the coordinator's stop and abort, progress
 * for the heartbeats, and (in the worker holding rank 0 only) the reports that become the job's
 * events. Reports from another worker throw {@link IllegalStateException}.
 */
public interface RankContext extends TrainingReports {
    /** Checkpoint (rank 0) and stop at the next step boundary: the job was cancelled or the coordinator stops. */
    boolean stopRequested();

    /** The attempt is over (a peer failed, the job ended): stop at once, without a checkpoint. */
    boolean aborted();

    /**
     * Runs {@code action} when the attempt is aborted (at once if it already is), on the heartbeat
     * thread: e.g. ncclCommAbort, so that a collective waiting for a dead peer returns.
     */
    void onAbort(Runnable action);

    /** Optimiser steps done, sent with the next heartbeat. */
    @Override
    void progress(int stepsDone);

    /** The coordinator records it and deletes the checkpoints it no longer keeps. */
    @Override
    void checkpoint(CheckpointInfo checkpoint);
}

package plaid.trainer.cluster;

import java.nio.file.Path;
import java.util.Optional;
import plaid.v1.TrainingSpec;

/**
 * This worker's part of an attempt, as the rendezvous gave it.
 *
 * @param root the run root, shared with the coordinator: data, and checkpoints rank 0 writes
 * @param firstRank this worker's ranks are firstRank .. firstRank + devices - 1
 * @param uniqueId the attempt's NCCL unique id, the same bytes in every worker
 * @param resumeFrom the checkpoint to continue, relative to the root
 * @param keepCheckpoints how many checkpoints the coordinator keeps (it deletes the older ones)
 */
public record RankAssignment(
        String jobId,
        int attempt,
        TrainingSpec spec,
        Path root,
        int firstRank,
        int devices,
        int worldSize,
        int workers,
        byte[] uniqueId,
        Optional<String> resumeFrom,
        int keepCheckpoints) {
    public boolean holdsRankZero() {
        return firstRank == 0;
    }
}

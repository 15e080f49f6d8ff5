package plaid.trainer;

import java.util.ArrayList;
import java.util.List;
import plaid.v1.GetJobRequest;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.ModelShape;
import plaid.v1.Optimization;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.WatchJobRequest;

/** The tiny model the trainer's tests train, and the calls they make on its jobs through any trainer stub. */
public final class TinyJobs {
    private TinyJobs() {}

    /** Dim 32, 2 blocks of 2 heads, embedding dim 8, seq 16, a 300-id vocabulary: trains in seconds on a CPU. */
    public static ModelShape.Builder shape() {
        return ModelShape.newBuilder()
                .setDim(32)
                .setNBlocks(2)
                .setNHeads(2)
                .setEmbedDim(8)
                .setSeqLen(16)
                .setVocabSize(300);
    }

    /** {@code steps} steps of batch 8, the learning rate and the bias both warming up over {@code warmupSteps}. */
    public static Optimization.Builder optimization(int steps, int warmupSteps) {
        return Optimization.newBuilder()
                .setSteps(steps)
                .setBatchSize(8)
                .setLrWarmupSteps(warmupSteps)
                .setBiasWarmupSteps(warmupSteps);
    }

    public static Job job(TrainerServiceGrpc.TrainerServiceBlockingStub trainer, String jobId) {
        return trainer.getJob(GetJobRequest.newBuilder().setJobId(jobId).build());
    }

    /** Every event after {@code afterSequence} until the job ends. */
    public static List<JobEvent> watch(
            TrainerServiceGrpc.TrainerServiceBlockingStub trainer, String jobId, long afterSequence) {
        List<JobEvent> events = new ArrayList<>();
        trainer.watchJob(WatchJobRequest.newBuilder()
                        .setJobId(jobId)
                        .setAfterSequence(afterSequence)
                        .build())
                .forEachRemaining(events::add);
        return events;
    }

    /** The message events' texts, in order. */
    public static List<String> messages(List<JobEvent> events) {
        return events.stream()
                .filter(JobEvent::hasMessage)
                .map(JobEvent::getMessage)
                .toList();
    }
}

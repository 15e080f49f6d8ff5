package plaid.trainer.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import plaid.options.PlaidConfig;
import plaid.options.SpecOptions;
import plaid.v1.CheckpointInfo;
import plaid.v1.StepMetrics;

/**
 * A rank runner that trains nothing, for testing the rendezvous and the deployment without
 * accelerators ({@code --runner counting}): each step it sleeps {@code plaid.counting.step-millis}
 * (default 100) and counts; rank 0 reports metrics every print_freq steps (loss 1 / (1 + step),
 * so a resumed curve can be checked against an unbroken one) and writes a checkpoint holding
 * the count every checkpoint_freq steps and at the end, where a restart resumes. The real
 * ranks (data-parallel Plaid training over NCCL) are another runner.
 */
public final class CountingRankRunner implements RankRunner {
    static final String NAME = "counting", COUNT_FILE = "count.txt";
    private static final SecureRandom RANDOM = new SecureRandom();

    @Override
    public String name() {
        return NAME;
    }

    /** Random bytes of the size of NCCL's ncclUniqueId. */
    @Override
    public byte[] newUniqueId() {
        byte[] id = new byte[128];
        RANDOM.nextBytes(id);
        return id;
    }

    @Override
    public Outcome run(RankAssignment assignment, RankContext context) throws IOException, InterruptedException {
        PlaidConfig options = SpecOptions.config(assignment.spec());
        var reporting = assignment.spec().getReporting();
        int checkpointFreq = reporting.hasCheckpointFreq() ? reporting.getCheckpointFreq() : options.hookFreq;
        long stepMillis = Long.getLong("plaid.counting.step-millis", 100);
        int count = assignment.resumeFrom().isPresent()
                ? Integer.parseInt(Files.readString(assignment
                                .root()
                                .resolve(assignment.resumeFrom().get())
                                .resolve(COUNT_FILE))
                        .strip())
                : 0;
        boolean reports = assignment.holdsRankZero();
        for (int step = count; step < options.steps; step++) {
            if (context.aborted()) return Outcome.STOPPED;
            if (context.stopRequested()) {
                if (reports) checkpoint(assignment, context, count);
                return Outcome.STOPPED;
            }
            Thread.sleep(stepMillis);
            count++;
            context.progress(count);
            if (reports && (count % options.printFreq == 0 || count == options.steps))
                context.metrics(StepMetrics.newBuilder()
                        .setStep(step)
                        .setLoss(1.0 / (1 + step))
                        .setSeconds(stepMillis / 1e3)
                        .build());
            if (reports && count % checkpointFreq == 0 && count < options.steps) checkpoint(assignment, context, count);
        }
        if (reports) {
            checkpoint(assignment, context, count);
            context.message("counted to %d over %d ranks (counting runner)".formatted(count, assignment.worldSize()));
        }
        return Outcome.SUCCEEDED;
    }

    /** The count in {@code jobs/<id>/checkpoints/step-<n>/}, written atomically, then reported. */
    private static void checkpoint(RankAssignment assignment, RankContext context, int count) throws IOException {
        String relative = "jobs/" + assignment.jobId() + "/checkpoints/step-" + count;
        Path dir = assignment.root().resolve(relative);
        Files.createDirectories(dir);
        Path partial = dir.resolve(COUNT_FILE + ".partial");
        Files.writeString(partial, Integer.toString(count), StandardCharsets.UTF_8);
        Files.move(
                partial, dir.resolve(COUNT_FILE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        context.checkpoint(CheckpointInfo.newBuilder()
                .setStep(count)
                .setPath(relative)
                .setResumable(true)
                .build());
    }
}

package plaid.cli;

import java.io.PrintStream;
import java.util.Iterator;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.WatchJobRequest;

/** Follows a training job's event stream until it ends, drawing a progress bar. */
final class JobWatcher {
    private JobWatcher() {}

    static boolean finished(JobState state) {
        return state == JobState.JOB_STATE_SUCCEEDED
                || state == JobState.JOB_STATE_FAILED
                || state == JobState.JOB_STATE_CANCELLED;
    }

    /** Returns the job as it ended. */
    static Job watch(TrainerServiceGrpc.TrainerServiceBlockingStub trainer, String jobId, PrintStream out) {
        Job job = trainer.getJob(
                plaid.v1.GetJobRequest.newBuilder().setJobId(jobId).build());
        ProgressBar bar = new ProgressBar(out, "training");
        String validation = "";
        Iterator<JobEvent> events =
                trainer.watchJob(WatchJobRequest.newBuilder().setJobId(jobId).build());
        while (events.hasNext()) {
            JobEvent event = events.next();
            switch (event.getEventCase()) {
                case METRICS -> {
                    var m = event.getMetrics();
                    bar.update(
                            "training",
                            m.getStep() + 1,
                            job.getTotalSteps(),
                            String.format(
                                    "loss %.3f nll %.3f %.0f tok/s ETA %s%s",
                                    m.getLoss(),
                                    m.getNll(),
                                    m.getTokensPerSecond(),
                                    duration(m.getEtaSeconds()),
                                    validation));
                }
                case VALIDATING -> {
                    var v = event.getValidating();
                    bar.update(
                            "validating",
                            v.getBatchesDone(),
                            v.getBatches(),
                            "batches, after step " + v.getStep() + validation);
                }
                case VALIDATION ->
                    validation =
                            String.format(" val nll %.3f", event.getValidation().getNll());
                case CHECKPOINT -> {}
                case MESSAGE -> {
                    bar.finish();
                    out.println(event.getMessage());
                }
                case STATE -> {
                    if (finished(event.getState())) {
                        bar.finish();
                        return trainer.getJob(plaid.v1.GetJobRequest.newBuilder()
                                .setJobId(jobId)
                                .build());
                    }
                }
                default -> {}
            }
        }
        bar.finish();
        return trainer.getJob(
                plaid.v1.GetJobRequest.newBuilder().setJobId(jobId).build());
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600
                ? String.format("%dh%02dm", s / 3600, s % 3600 / 60)
                : String.format("%dm%02ds", s / 60, s % 60);
    }
}

package plaid.trainer;

import io.grpc.Status;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;
import plaid.model.TrainingDivergedException;
import plaid.trainer.cluster.ClusterCoordinator;
import plaid.trainer.cluster.ClusterJobFailedException;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;

/**
 * The job queue: a fixed number of worker threads take jobs in submission order. At start it
 * queues again what a previous process left queued or running; at shutdown running jobs
 * checkpoint and stay running, so they continue at the next start.
 *
 * <p>State changes that race (a worker claiming or finishing a job, a cancel) happen under
 * this object's lock, so a cancelled job is never started and a finished one never cancelled.
 */
@ApplicationScoped
public class JobRunner {
    private static final Logger LOG = Logger.getLogger(JobRunner.class);
    private static final long SHUTDOWN_WAIT_SECONDS = 120;

    private final JobStore store;
    private final JobEvents events;
    private final TrainingRuns training;
    private final ClusterCoordinator cluster;
    private final TrainingCorpus corpus;
    private final int defaultKeepCheckpoints;
    /** Guarded by this. */
    private final Map<String, RunControl> running = new HashMap<>();

    private boolean stopping;
    private final ExecutorService workers;

    JobRunner(
            TrainerServiceConfig config,
            JobStore store,
            JobEvents events,
            TrainingRuns training,
            ClusterCoordinator cluster,
            TrainingCorpus corpus) {
        this.store = store;
        this.events = events;
        this.training = training;
        this.cluster = cluster;
        this.corpus = corpus;
        this.defaultKeepCheckpoints = config.keepCheckpoints();
        // Made here, not at startup: a SubmitJob may arrive before the StartupEvent has been observed.
        this.workers = Executors.newFixedThreadPool(
                config.concurrentJobs(),
                Thread.ofPlatform().name("trainer-job-", 0).factory());
    }

    void start(@Observes StartupEvent startup) {
        for (Job job : store.inStates(
                EnumSet.of(JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_CANCELLING))) {
            // A crash while cancelling: the cancel stands, and the job's last checkpoint is where a new job can resume.
            if (job.getState() == JobState.JOB_STATE_CANCELLING)
                events.finish(job.getId(), JobState.JOB_STATE_CANCELLED, null);
            else enqueue(job.getId());
        }
    }

    void stop(@Observes ShutdownEvent shutdown) throws InterruptedException {
        synchronized (this) {
            stopping = true;
            running.values().forEach(RunControl::shutDown);
        }
        workers.shutdown();
        if (!workers.awaitTermination(SHUTDOWN_WAIT_SECONDS, TimeUnit.SECONDS))
            LOG.warn("jobs still running at shutdown");
    }

    public void enqueue(String jobId) {
        workers.execute(() -> run(jobId));
    }

    /** Cancels a queued job at once and asks a running one to checkpoint and stop; a finished job is left as it is. */
    public synchronized Job cancel(String jobId) {
        Job job = store.find(jobId)
                .orElseThrow(() ->
                        Status.NOT_FOUND.withDescription("no job " + jobId).asRuntimeException());
        RunControl control = running.get(jobId);
        if (control != null && job.getState() == JobState.JOB_STATE_RUNNING) {
            control.cancel();
            events.append(jobId, JobEvent.newBuilder().setState(JobState.JOB_STATE_CANCELLING));
        } else if (job.getState() == JobState.JOB_STATE_QUEUED || job.getState() == JobState.JOB_STATE_RUNNING) {
            // Queued, or running in an earlier process and not resumed yet: nothing to stop.
            events.finish(jobId, JobState.JOB_STATE_CANCELLED, null);
        }
        return store.find(jobId).orElseThrow();
    }

    private void run(String jobId) {
        Job job;
        RunControl control = new RunControl();
        synchronized (this) {
            job = store.find(jobId).orElseThrow();
            boolean runnable =
                    job.getState() == JobState.JOB_STATE_QUEUED || job.getState() == JobState.JOB_STATE_RUNNING;
            // A job queued twice (a retried submission) runs once.
            if (stopping || !runnable || running.containsKey(jobId)) return;
            running.put(jobId, control);
            if (job.getState() == JobState.JOB_STATE_QUEUED)
                events.append(jobId, JobEvent.newBuilder().setState(JobState.JOB_STATE_RUNNING));
        }
        JobState end;
        String failure = null;
        try {
            // With trainer-svc.cluster.workers set, the job trains on worker processes of other machines.
            // The coordinator splits the corpus and trains the tokenizer once; workers read them from the shared root.
            if (cluster.enabled())
                corpus.prepare(
                        job.getId(),
                        job.getSpec().getCorpus(),
                        RunPlan.of(job.getSpec(), defaultKeepCheckpoints).config());
            end = cluster.enabled()
                    ? cluster.run(
                            job,
                            RunPlan.of(job.getSpec(), defaultKeepCheckpoints).keepCheckpoints(),
                            control::cancelled,
                            control::shuttingDown)
                    : training.run(job, control);
        } catch (TrainingDivergedException | ClusterJobFailedException e) {
            LOG.warnf("job %s failed: %s", jobId, e.getMessage());
            end = JobState.JOB_STATE_FAILED;
            failure = e.getMessage();
        } catch (Exception | Error e) {
            LOG.errorf(e, "job %s failed", jobId);
            end = JobState.JOB_STATE_FAILED;
            failure = e.toString();
        }
        synchronized (this) {
            running.remove(jobId);
            if (end != null) events.finish(jobId, end, failure);
        }
    }
}

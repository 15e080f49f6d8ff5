package plaid.trainer;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.nio.file.Files;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.jboss.logging.Logger;
import plaid.service.InvalidArgument;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.SubmitSweepRequest;
import plaid.v1.Sweep;
import plaid.v1.SweepState;
import plaid.v1.SweepTrial;
import plaid.v1.TrainingSpec;
import plaid.v1.TrialState;

/**
 * Runs sweeps: each running sweep has a virtual thread that submits its pending trials as jobs
 * (as SubmitJob does: a stored job, queued on the {@link JobRunner}) while fewer than
 * max_concurrent run, follows them through the job store, records their validation NLLs,
 * applies the median stopping rule and ends the sweep when every trial has ended. All of it is
 * read from and written to the {@link SweepStore}, so a restarted service follows its running
 * sweeps on from there: a trial submitted just before a crash is found again by its request id.
 *
 * <p>Changes of a sweep (a step of its thread, a cancel) happen under this object's lock, so a
 * cancelled sweep submits no further trial.
 */
@ApplicationScoped
public class SweepRunner {
    private static final Logger LOG = Logger.getLogger(SweepRunner.class);
    /** How often a sweep's thread looks at its trials' jobs. */
    private static final long POLL_MILLIS = 200;

    static final Set<TrialState> TRIAL_ENDED = EnumSet.of(
            TrialState.TRIAL_STATE_SUCCEEDED,
            TrialState.TRIAL_STATE_FAILED,
            TrialState.TRIAL_STATE_CANCELLED,
            TrialState.TRIAL_STATE_STOPPED_EARLY);

    private final TrainerServiceConfig config;
    private final RunRoot root;
    private final TrainingCorpus corpus;
    private final SweepStore sweeps;
    private final JobStore jobs;
    private final JobRunner jobRunner;
    /** The sequence of the newest event read of each followed trial's job. Guarded by this. */
    private final Map<String, Long> readUpTo = new HashMap<>();
    /** Sweeps with a thread following them. Guarded by this. */
    private final Set<String> followed = new HashSet<>();

    private volatile boolean stopping;

    SweepRunner(
            TrainerServiceConfig config,
            RunRoot root,
            TrainingCorpus corpus,
            SweepStore sweeps,
            JobStore jobs,
            JobRunner jobRunner) {
        this.config = config;
        this.root = root;
        this.corpus = corpus;
        this.sweeps = sweeps;
        this.jobs = jobs;
        this.jobRunner = jobRunner;
    }

    void start(@Observes StartupEvent startup) {
        resumeRunning();
    }

    void stop(@Observes ShutdownEvent shutdown) {
        stopping = true;
    }

    /** Follows every stored running sweep that no thread follows yet: what a restarted service does. */
    public void resumeRunning() {
        sweeps.running().forEach(this::follow);
    }

    /**
     * Checks the space and every trial's spec as SubmitJob would, stores the sweep with all its
     * trials pending and starts it. A refusal stores nothing.
     */
    public Sweep submit(SubmitSweepRequest request) {
        Sweep earlier = sweeps.byRequestId(request.getRequestId()).orElse(null);
        if (earlier != null) return earlier;
        List<SweepTrial> trials = SweepSpace.trials(request);
        for (SweepTrial trial : trials) checkTrial(request.getBase(), trial);
        Sweep sweep = sweeps.create(request, trials);
        follow(sweep.getId());
        return sweep;
    }

    /** Cancels the pending trials and the running trials' jobs; a sweep that has ended is returned as it is. */
    public synchronized Sweep cancel(String sweepId) {
        Sweep sweep = find(sweepId);
        if (sweep.getState() != SweepState.SWEEP_STATE_RUNNING) return sweep;
        for (SweepTrial trial : sweep.getTrialsList()) {
            if (TRIAL_ENDED.contains(trial.getState())) continue;
            if (!trial.getJobId().isEmpty()) cancelJob(trial.getJobId());
            sweeps.updateTrial(
                    sweepId,
                    trial.toBuilder()
                            .setState(TrialState.TRIAL_STATE_CANCELLED)
                            .setReason("the sweep was cancelled")
                            .build());
        }
        sweeps.finish(sweepId, SweepState.SWEEP_STATE_CANCELLED);
        return find(sweepId);
    }

    public Sweep find(String sweepId) {
        InvalidArgument.require(!sweepId.isEmpty(), "sweep_id", "must not be empty");
        return sweeps.find(sweepId)
                .orElseThrow(() ->
                        Status.NOT_FOUND.withDescription("no sweep " + sweepId).asRuntimeException());
    }

    /** Starts a thread following the sweep unless one does. */
    void follow(String sweepId) {
        synchronized (this) {
            if (!followed.add(sweepId)) return;
        }
        Thread.ofVirtual().name("sweep-" + sweepId).start(() -> {
            try {
                while (!stopping) {
                    synchronized (this) {
                        if (advance(sweepId)) return;
                    }
                    Thread.sleep(POLL_MILLIS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                // The sweep stays running in the store; the next start follows it again.
                LOG.errorf(e, "following sweep %s failed", sweepId);
            } finally {
                synchronized (this) {
                    followed.remove(sweepId);
                }
            }
        });
    }

    /** One look at the sweep: updates its trials, submits what may start, and says whether it has ended. */
    private boolean advance(String sweepId) {
        Sweep sweep = find(sweepId);
        if (sweep.getState() != SweepState.SWEEP_STATE_RUNNING) return true;
        SubmitSweepRequest request = sweep.getRequest();
        List<SweepTrial> trials = sweep.getTrialsList().stream()
                .map(t -> t.getState() == TrialState.TRIAL_STATE_RUNNING ? follow(sweepId, t) : t)
                .toList();
        if (request.getEarlyStopping().getEnabled()) {
            List<SweepTrial> current = trials;
            trials = current.stream()
                    .map(t -> t.getState() == TrialState.TRIAL_STATE_RUNNING
                            ? stopIfHopeless(sweepId, t, current, request)
                            : t)
                    .toList();
        }
        long running = trials.stream()
                .filter(t -> t.getState() == TrialState.TRIAL_STATE_RUNNING)
                .count();
        int limit = Math.max(1, request.getMaxConcurrent());
        for (SweepTrial trial : trials) {
            if (running >= limit) break;
            if (trial.getState() != TrialState.TRIAL_STATE_PENDING) continue;
            if (submitTrial(sweep, trial).getState() == TrialState.TRIAL_STATE_RUNNING) running++;
        }
        if (find(sweepId).getTrialsList().stream().allMatch(t -> TRIAL_ENDED.contains(t.getState()))) {
            sweeps.finish(sweepId, SweepState.SWEEP_STATE_SUCCEEDED);
            return true;
        }
        return false;
    }

    /** The trial with its job's validations and, once the job has ended, its outcome. */
    private SweepTrial follow(String sweepId, SweepTrial trial) {
        Job job = jobs.find(trial.getJobId()).orElse(null);
        SweepTrial.Builder next = trial.toBuilder();
        if (job == null) {
            next.setState(TrialState.TRIAL_STATE_FAILED).setReason("its job " + trial.getJobId() + " no longer exists");
        } else {
            // The job's events since the last look (all of them after a restart); a step validated
            // again after a resumption keeps its latest value.
            long after = readUpTo.getOrDefault(job.getId(), 0L);
            for (JobEvent event : jobs.eventsAfter(job.getId(), after)) {
                if (event.hasValidation())
                    next.putValidations(
                            event.getValidation().getStep(),
                            event.getValidation().getNll());
                after = event.getSequence();
            }
            readUpTo.put(job.getId(), after);
            if (job.hasLatestValidation())
                next.setValidationNll(job.getLatestValidation().getNll())
                        .setValidationStep(job.getLatestValidation().getStep());
            switch (job.getState()) {
                case JOB_STATE_SUCCEEDED -> next.setState(TrialState.TRIAL_STATE_SUCCEEDED);
                case JOB_STATE_FAILED ->
                    next.setState(TrialState.TRIAL_STATE_FAILED).setReason(job.getFailure());
                case JOB_STATE_CANCELLED ->
                    next.setState(TrialState.TRIAL_STATE_CANCELLED).setReason("its job was cancelled");
                default -> {}
            }
        }
        SweepTrial updated = next.build();
        if (!updated.equals(trial)) sweeps.updateTrial(sweepId, updated);
        if (TRIAL_ENDED.contains(updated.getState())) readUpTo.remove(trial.getJobId());
        return updated;
    }

    /**
     * The median rule: at a validation step of the trial, a NLL above the median of the
     * completed trials' NLLs at that step stops it (its job is cancelled and checkpoints).
     * Every recorded step is judged, oldest first, so a late look misses none.
     */
    private SweepTrial stopIfHopeless(
            String sweepId, SweepTrial trial, List<SweepTrial> all, SubmitSweepRequest request) {
        int minimum = request.getEarlyStopping().getMinCompletedTrials() == 0
                ? 2
                : request.getEarlyStopping().getMinCompletedTrials();
        for (int step : trial.getValidationsMap().keySet().stream().sorted().toList()) {
            double nll = trial.getValidationsMap().get(step);
            List<Double> completed = all.stream()
                    .filter(t -> t.getState() == TrialState.TRIAL_STATE_SUCCEEDED && t.containsValidations(step))
                    .map(t -> t.getValidationsMap().get(step))
                    .sorted()
                    .toList();
            if (completed.size() < minimum) continue;
            double median = median(completed);
            if (!(nll > median)) continue;
            cancelJob(trial.getJobId());
            readUpTo.remove(trial.getJobId());
            SweepTrial stopped = trial.toBuilder()
                    .setState(TrialState.TRIAL_STATE_STOPPED_EARLY)
                    .setValidationNll(nll)
                    .setValidationStep(step)
                    .setReason("validation NLL %.4f at step %d is above the median %.4f of %d completed trials"
                            .formatted(nll, step, median, completed.size()))
                    .build();
            sweeps.updateTrial(sweepId, stopped);
            return stopped;
        }
        return trial;
    }

    static double median(List<Double> sorted) {
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    /** Submits the trial as a job, as SubmitJob does; its request id finds the same job when a restart submits it again. */
    private SweepTrial submitTrial(Sweep sweep, SweepTrial trial) {
        SweepTrial.Builder next = trial.toBuilder();
        String requestId = "sweep:" + sweep.getId() + ":" + trial.getIndex();
        try {
            // Made before a restart, whose trial row was not updated yet: the job is this trial's.
            Job job = jobs.byRequestId(requestId).orElse(null);
            if (job == null) {
                TrainingSpec spec = SweepSpace.spec(sweep.getRequest().getBase(), trial);
                RunPlan plan = checkTrial(sweep.getRequest().getBase(), trial);
                String name = (sweep.getDisplayName().isEmpty() ? "sweep " + sweep.getId() : sweep.getDisplayName())
                        + " trial " + trial.getIndex();
                job = jobs.create(spec, name, requestId, plan.config().steps);
                jobRunner.enqueue(job.getId());
            }
            next.setJobId(job.getId()).setState(TrialState.TRIAL_STATE_RUNNING);
        } catch (StatusRuntimeException e) {
            // Something changed since the sweep was checked (e.g. the corpus is gone): this trial cannot run.
            next.setState(TrialState.TRIAL_STATE_FAILED).setReason(e.getStatus().getDescription());
        }
        SweepTrial updated = next.build();
        sweeps.updateTrial(sweep.getId(), updated);
        return updated;
    }

    /** SubmitJob's checks of the trial's spec; a refusal names the spec field and the trial. */
    private RunPlan checkTrial(TrainingSpec base, SweepTrial trial) {
        TrainingSpec spec = SweepSpace.spec(base, trial);
        try {
            RunPlan plan = RunPlan.of(spec, config.keepCheckpoints());
            corpus.check(spec.getCorpus(), plan.config());
            if (spec.hasResumeFrom())
                InvalidArgument.require(
                        Files.isDirectory(root.resolve(spec.getResumeFrom(), "spec.resume_from")),
                        "spec.resume_from",
                        "names no directory under the run root");
            if (spec.hasWeightsFrom())
                InvalidArgument.require(
                        Files.isDirectory(root.resolve(spec.getWeightsFrom(), "spec.weights_from")),
                        "spec.weights_from",
                        "names no directory under the run root");
            if (plan.config().modelSavePath != null)
                InvalidArgument.require(
                        !Files.exists(root.savePath(plan.config().modelSavePath)),
                        "spec.reporting.model_save_path",
                        "'" + plan.config().modelSavePath + "' already exists under the run root");
            return plan;
        } catch (StatusRuntimeException e) {
            // Refusals of the spec (a bad field, a corpus missing or not ready) name the base's field.
            Status.Code code = e.getStatus().getCode();
            if (code != Status.Code.INVALID_ARGUMENT
                    && code != Status.Code.NOT_FOUND
                    && code != Status.Code.FAILED_PRECONDITION) throw e;
            String values = trial.getParametersMap().entrySet().stream()
                    .map(v -> v.getKey() + "=" + v.getValue())
                    .collect(Collectors.joining(" "));
            String description = e.getStatus().getDescription();
            // The base spec is the request's "base" field.
            if (description.startsWith("spec.")) description = "base." + description.substring("spec.".length());
            throw Status.fromCode(code)
                    .withDescription(description + " (trial " + trial.getIndex() + ": " + values + ")")
                    .asRuntimeException();
        }
    }

    private void cancelJob(String jobId) {
        try {
            jobRunner.cancel(jobId);
        } catch (StatusRuntimeException e) {
            LOG.warnf("cancelling job %s of a sweep: %s", jobId, e.getStatus());
        }
    }
}

package plaid.trainer.cluster;

import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import plaid.service.InvalidArgument;
import plaid.trainer.CheckpointRecord;
import plaid.trainer.JobEvents;
import plaid.trainer.JobStore;
import plaid.trainer.RunRoot;
import plaid.trainer.TrainerServiceConfig;
import plaid.v1.CheckpointInfo;
import plaid.v1.HeartbeatResponse;
import plaid.v1.HeartbeatResponse.Directive;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.JoinRequest;
import plaid.v1.JoinResponse;
import plaid.v1.ReportRequest;

/**
 * The coordinator side of multi-machine jobs: with {@code trainer-svc.cluster.workers} set, the
 * job queue hands each job to {@link #run} instead of training it here, and the rendezvous
 * service's calls land in the job's {@link ClusterJob}. What rank 0 reports becomes the job's
 * events and checkpoints, exactly as a job trained here records them.
 */
@ApplicationScoped
public class ClusterCoordinator {
    private final ClusterConfig config;
    private final JobStore store;
    private final JobEvents events;
    private final RunRoot root;
    /** Jobs a worker or the queue has asked for; an ended one stays to answer its late workers. */
    private final Map<String, ClusterJob> jobs = new ConcurrentHashMap<>();

    ClusterCoordinator(TrainerServiceConfig config, JobStore store, JobEvents events, RunRoot root) {
        this.config = config.cluster();
        this.store = store;
        this.events = events;
        this.root = root;
    }

    /** Whether jobs train on workers (true) or in this process. */
    public boolean enabled() {
        return config.workers().isPresent();
    }

    /**
     * Runs the job on its workers on the calling (job) thread; see {@link ClusterJob#run}.
     *
     * @throws ClusterJobFailedException when the workers failed and the retry policy is spent
     */
    public JobState run(Job job, int keepCheckpoints, BooleanSupplier cancelled, BooleanSupplier shuttingDown)
            throws InterruptedException {
        ClusterJob cluster = jobs.computeIfAbsent(job.getId(), id -> new ClusterJob(id, job.getSpec(), config));
        return cluster.run(
                new ClusterJob.Host() {
                    @Override
                    public boolean cancelled() {
                        return cancelled.getAsBoolean();
                    }

                    @Override
                    public boolean shuttingDown() {
                        return shuttingDown.getAsBoolean();
                    }

                    @Override
                    public Optional<String> latestCheckpoint() {
                        return store.latestCheckpoint(job.getId()).map(c -> c.path);
                    }

                    @Override
                    public void message(String text) {
                        events.append(job.getId(), JobEvent.newBuilder().setMessage(text));
                    }
                },
                keepCheckpoints);
    }

    JoinResponse join(JoinRequest request) throws InterruptedException {
        InvalidArgument.require(!request.getJobId().isEmpty(), "job_id", "must not be empty");
        InvalidArgument.require(
                request.getDevices() >= 1, "devices", "must be at least 1, got " + request.getDevices());
        if (!enabled())
            throw Status.FAILED_PRECONDITION
                    .withDescription("this trainer-svc trains jobs itself: set trainer-svc.cluster.workers to"
                            + " coordinate worker processes")
                    .asRuntimeException();
        int workers = config.workers().getAsInt();
        if (request.hasNodeIndex())
            InvalidArgument.require(
                    request.getNodeIndex() < workers,
                    "node_index",
                    "must be below the job's " + workers + " workers (trainer-svc.cluster.workers), got "
                            + request.getNodeIndex());
        Job job = job(request.getJobId());
        if (!jobs.containsKey(job.getId()) && ended(job))
            throw Status.FAILED_PRECONDITION
                    .withDescription("job " + job.getId() + " has ended: " + describe(job))
                    .asRuntimeException();
        ClusterJob cluster = jobs.computeIfAbsent(job.getId(), id -> new ClusterJob(id, job.getSpec(), config));
        return cluster.join(
                request, () -> store.find(job.getId()).map(this::ended).orElse(true));
    }

    void publishUniqueId(String jobId, String workerId, byte[] uniqueId) {
        cluster(jobId).publishUniqueId(workerId, uniqueId);
    }

    byte[] awaitUniqueId(String jobId, String workerId) throws InterruptedException {
        return cluster(jobId).awaitUniqueId(workerId);
    }

    /** A worker this process does not know (its attempt began before a restart of the service) joins again. */
    HeartbeatResponse heartbeat(String jobId, String workerId, int step) {
        ClusterJob cluster = jobs.get(jobId);
        if (cluster != null) return cluster.heartbeat(workerId, step);
        Job job = job(jobId);
        Directive directive = ended(job) ? Directive.END : Directive.REJOIN;
        String reason = ended(job) ? "job " + jobId + " has ended: " + describe(job) : "the coordinator restarted";
        return HeartbeatResponse.newBuilder()
                .setDirective(directive)
                .setReason(reason)
                .build();
    }

    void report(ReportRequest request) throws IOException {
        ClusterJob cluster = cluster(request.getJobId());
        cluster.requireReporter(request.getWorkerId());
        String jobId = request.getJobId();
        switch (request.getReportCase()) {
            case METRICS -> events.append(jobId, JobEvent.newBuilder().setMetrics(request.getMetrics()));
            case VALIDATING -> events.append(jobId, JobEvent.newBuilder().setValidating(request.getValidating()));
            case VALIDATION -> events.append(jobId, JobEvent.newBuilder().setValidation(request.getValidation()));
            case MESSAGE -> events.append(jobId, JobEvent.newBuilder().setMessage(request.getMessage()));
            case CHECKPOINT -> {
                CheckpointInfo info = request.getCheckpoint();
                Path dir = root.resolve(info.getPath(), "checkpoint.path");
                InvalidArgument.require(
                        Files.isDirectory(dir), "checkpoint.path", "names no directory under the run root");
                CheckpointInfo recorded = info.toBuilder()
                        .setPath(root.relative(dir))
                        .clearWrittenAt()
                        .build();
                for (CheckpointRecord dropped : events.checkpointWritten(jobId, recorded, cluster.keepCheckpoints()))
                    deleteTree(root.path().resolve(dropped.path));
            }
            case REPORT_NOT_SET -> throw InvalidArgument.of("report", "must be set");
        }
    }

    void leave(
            String jobId, String workerId, plaid.v1.LeaveRequest.Outcome outcome, String failure, boolean retryable) {
        InvalidArgument.require(
                outcome != plaid.v1.LeaveRequest.Outcome.OUTCOME_UNSPECIFIED
                        && outcome != plaid.v1.LeaveRequest.Outcome.UNRECOGNIZED,
                "outcome",
                "must be SUCCEEDED, STOPPED or FAILED");
        cluster(jobId).leave(workerId, outcome, failure, retryable);
    }

    private ClusterJob cluster(String jobId) {
        InvalidArgument.require(!jobId.isEmpty(), "job_id", "must not be empty");
        ClusterJob cluster = jobs.get(jobId);
        if (cluster == null)
            throw Status.ABORTED
                    .withDescription("job " + jobId + " has no running attempt here: join it again")
                    .asRuntimeException();
        return cluster;
    }

    private Job job(String jobId) {
        InvalidArgument.require(!jobId.isEmpty(), "job_id", "must not be empty");
        return store.find(jobId)
                .orElseThrow(() ->
                        Status.NOT_FOUND.withDescription("no job " + jobId).asRuntimeException());
    }

    private boolean ended(Job job) {
        return job.getState() == JobState.JOB_STATE_SUCCEEDED
                || job.getState() == JobState.JOB_STATE_FAILED
                || job.getState() == JobState.JOB_STATE_CANCELLED;
    }

    private static String describe(Job job) {
        String state = job.getState().name().substring("JOB_STATE_".length()).toLowerCase();
        return job.getFailure().isEmpty() ? state : state + ": " + job.getFailure();
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path file : files.sorted(Comparator.reverseOrder()).toList()) Files.delete(file);
        }
    }
}

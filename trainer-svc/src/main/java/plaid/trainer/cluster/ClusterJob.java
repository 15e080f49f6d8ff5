package plaid.trainer.cluster;

import io.grpc.Status;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import plaid.options.SpecOptions;
import plaid.v1.HeartbeatResponse;
import plaid.v1.HeartbeatResponse.Directive;
import plaid.v1.JobState;
import plaid.v1.JoinRequest;
import plaid.v1.JoinResponse;
import plaid.v1.LeaveRequest.Outcome;
import plaid.v1.TrainingSpec;

/**
 * One job's rendezvous: the members of its current attempt, the attempt's NCCL unique id, and
 * what each worker is told next. The gRPC threads only record what workers say; the job's own
 * thread ({@link #run}) alone starts, restarts and ends attempts, so no two callers race to.
 * Everything is guarded by this object's monitor.
 */
final class ClusterJob {
    /** How often waiting threads look again (state changes also wake them). */
    private static final long TICK_MILLIS = 100;

    enum Phase {
        JOINING,
        RUNNING,
        /** Told to checkpoint and stop (cancel or shutdown). */
        STOPPING,
        ENDED
    }

    /** What the job's thread needs from the service: its stop signals, checkpoints and events. */
    interface Host {
        boolean cancelled();

        boolean shuttingDown();

        /** The job's newest recorded checkpoint (relative to the run root). */
        Optional<String> latestCheckpoint();

        /** A message event in the job's log. */
        void message(String text);
    }

    /** The attempt's failure; a retryable one restarts the job while restarts remain. */
    private record Failure(String message, boolean retryable) {}

    private static final class Member {
        final String workerId = UUID.randomUUID().toString();
        final String host;
        final Integer nodeIndex;
        final int devices;
        /** The worker process's token (JoinRequest.incarnation), or empty. */
        final String incarnation;

        int firstRank = -1;
        long lastBeat;
        int step;
        Outcome left;
        JoinResponse assignment;
        boolean replaced;

        Member(String host, Integer nodeIndex, int devices, String incarnation) {
            this.host = host;
            this.nodeIndex = nodeIndex;
            this.devices = devices;
            this.incarnation = incarnation;
        }

        /** Whether {@code request} comes from this member's process (the same token, not empty). */
        boolean sameProcess(JoinRequest request) {
            return !incarnation.isEmpty() && incarnation.equals(request.getIncarnation());
        }

        String describe() {
            String where = (nodeIndex == null ? "worker" : "worker node " + nodeIndex) + " on " + host;
            if (firstRank < 0) return where;
            return where
                    + (devices == 1
                            ? " (rank " + firstRank + ")"
                            : " (ranks " + firstRank + "-" + (firstRank + devices - 1) + ")");
        }
    }

    final String jobId;
    private final int expected;
    private final ClusterConfig config;
    private final TrainingSpec spec;
    private final int batchSize;
    private volatile int keepCheckpoints;

    private Phase phase = Phase.JOINING;
    private boolean started;
    private int attempt = 1, restarts;
    private long joinDeadline;
    private String resumeFrom = "";
    private final List<Member> members = new ArrayList<>();
    private byte[] uniqueId;
    private Failure failure;
    private String stopReason, endReason, lastFailure;
    private Status endStatus = Status.FAILED_PRECONDITION;
    private final List<String> news = new ArrayList<>();

    ClusterJob(String jobId, TrainingSpec spec, ClusterConfig config) {
        this.jobId = jobId;
        this.spec = spec;
        this.batchSize = SpecOptions.config(spec).batchSize;
        this.config = config;
        this.expected = config.workers().orElseThrow();
    }

    int keepCheckpoints() {
        return keepCheckpoints;
    }

    /**
     * Registers a worker and waits until every expected worker has joined and the job runs, then
     * gives its assignment. A worker with the node index of a running member shows that the
     * member's process is gone: the attempt fails, and this one joins the next; the member's own
     * process asking again (the same incarnation) gets the member's assignment.
     */
    synchronized JoinResponse join(JoinRequest request, BooleanSupplier jobEnded) throws InterruptedException {
        Integer index = request.hasNodeIndex() && request.getNodeIndex() >= 0 ? request.getNodeIndex() : null;
        while (phase == Phase.RUNNING || phase == Phase.STOPPING) {
            Member same = index == null ? null : memberAt(index);
            if (same != null && same.left == null && failure == null) {
                // the same process asking again (the transport lost its join's answer): its assignment stands
                if (same.assignment != null && same.sameProcess(request)) return same.assignment;
                failure = new Failure(same.describe() + " joined again: its earlier process is gone", true);
                notifyAll();
            }
            wait(TICK_MILLIS);
        }
        requireNotEnded();
        if (index != null) {
            Member earlier = memberAt(index);
            if (earlier != null && earlier.sameProcess(request)) return awaitAssignment(earlier, jobEnded);
            if (earlier != null) {
                members.remove(earlier);
                earlier.replaced = true;
                notifyAll();
            }
        }
        if (members.size() >= expected)
            throw Status.FAILED_PRECONDITION
                    .withDescription(
                            "job " + jobId + " has its " + expected + " workers already (trainer-svc.cluster.workers)")
                    .asRuntimeException();
        Member member = new Member(request.getHost(), index, request.getDevices(), request.getIncarnation());
        members.add(member);
        assignWhenComplete();
        return awaitAssignment(member, jobEnded);
    }

    /** Waits in a join until {@code member}'s attempt starts, and gives its assignment. */
    private JoinResponse awaitAssignment(Member member, BooleanSupplier jobEnded) throws InterruptedException {
        long lastLook = System.nanoTime();
        while (member.assignment == null) {
            if (member.replaced)
                throw Status.ABORTED
                        .withDescription("a newer process joined as node " + member.nodeIndex)
                        .asRuntimeException();
            requireNotEnded();
            // A job cancelled while still queued never runs: nothing else would end the wait.
            if (!started && System.nanoTime() - lastLook > 1_000_000_000L) {
                lastLook = System.nanoTime();
                if (jobEnded.getAsBoolean()) {
                    members.remove(member);
                    throw Status.FAILED_PRECONDITION
                            .withDescription("job " + jobId + " ended before it started")
                            .asRuntimeException();
                }
            }
            wait(TICK_MILLIS);
        }
        return member.assignment;
    }

    synchronized void publishUniqueId(String workerId, byte[] id) {
        Member member = current(workerId);
        if (member.firstRank != 0)
            throw Status.FAILED_PRECONDITION
                    .withDescription("only the worker holding rank 0 publishes the unique id")
                    .asRuntimeException();
        if (uniqueId != null && !Arrays.equals(uniqueId, id))
            throw Status.FAILED_PRECONDITION
                    .withDescription("attempt " + attempt + "'s unique id was published already")
                    .asRuntimeException();
        uniqueId = id.clone();
        notifyAll();
    }

    synchronized byte[] awaitUniqueId(String workerId) throws InterruptedException {
        while (true) {
            current(workerId);
            if (uniqueId != null) return uniqueId.clone();
            wait(TICK_MILLIS);
        }
    }

    synchronized HeartbeatResponse heartbeat(String workerId, int step) {
        Member member = find(workerId);
        if (member == null) {
            if (phase == Phase.ENDED) return directive(Directive.END, endReason);
            // No failure yet: the worker's attempt began before this process (the coordinator restarted).
            return directive(
                    Directive.REJOIN,
                    lastFailure == null
                            ? "the coordinator does not know this worker's attempt (it restarted)"
                            : "attempt ended: " + lastFailure);
        }
        member.lastBeat = System.nanoTime();
        member.step = step;
        return phase == Phase.STOPPING ? directive(Directive.STOP, stopReason) : directive(Directive.CONTINUE, "");
    }

    /** The worker may report the job's events: it holds rank 0 of the running attempt. */
    synchronized void requireReporter(String workerId) {
        if (current(workerId).firstRank != 0)
            throw Status.FAILED_PRECONDITION
                    .withDescription("only the worker holding rank 0 reports")
                    .asRuntimeException();
    }

    synchronized void leave(String workerId, Outcome outcome, String why, boolean retryable) {
        Member member = current(workerId);
        member.left = outcome;
        if (outcome == Outcome.FAILED && failure == null)
            failure = new Failure(member.describe() + " failed: " + why, retryable);
        notifyAll();
    }

    /**
     * Runs the job on its workers, on the job's thread: waits for them, watches their
     * heartbeats, restarts from the last checkpoint while the retry policy allows. Returns the
     * state the job ended in, or null when the service shuts down (the job stays running).
     *
     * @param keepCheckpoints how many of the checkpoints rank 0 reports are kept
     * @throws ClusterJobFailedException when it failed, with the reason and where it can resume
     */
    JobState run(Host host, int keepCheckpoints) throws InterruptedException {
        this.keepCheckpoints = keepCheckpoints;
        startAttempt(host);
        while (true) {
            Object decision;
            List<String> said;
            synchronized (this) {
                wait(TICK_MILLIS);
                decision = decide(host);
                said = List.copyOf(news);
                news.clear();
            }
            said.forEach(host::message);
            if (decision instanceof JobState end) return end;
            if (decision == Phase.ENDED) return null;
            if (decision instanceof Failure f) {
                // Workers lost while the service stops (its gRPC server may be down already): the
                // job stays running, to be resumed at the next start, not failed.
                if (host.shuttingDown()) {
                    synchronized (this) {
                        end(stopReason, Status.UNAVAILABLE);
                    }
                    return null;
                }
                if (!f.retryable() || restarts >= config.maxRestarts() || stopReason != null) throw fail(f, host);
                restart(f, host);
            }
        }
    }

    /** What the job's thread does next: nothing (null), end (a state, or ENDED for a shutdown) or handle a failure. */
    private Object decide(Host host) {
        long now = System.nanoTime();
        if (stopReason == null && (host.cancelled() || host.shuttingDown())) {
            stopReason = host.cancelled() ? "the job was cancelled" : "the coordinator is shutting down";
            if (phase == Phase.JOINING) {
                end(stopReason, host.cancelled() ? Status.FAILED_PRECONDITION : Status.UNAVAILABLE);
                return host.cancelled() ? JobState.JOB_STATE_CANCELLED : Phase.ENDED;
            }
            phase = Phase.STOPPING;
            notifyAll();
        }
        if (failure != null) return failure;
        if (phase == Phase.JOINING) {
            if (now - joinDeadline > 0) return new Failure(joinTimeoutMessage(), false);
            return null;
        }
        long timeout = config.heartbeatTimeout().toNanos();
        for (Member m : members) {
            if (m.left == null && now - m.lastBeat > timeout)
                return new Failure(
                        "%s sent no heartbeat for %s (last at step %d; trainer-svc.cluster.heartbeat-timeout)"
                                .formatted(m.describe(), seconds(now - m.lastBeat), m.step),
                        true);
        }
        if (members.stream().anyMatch(m -> m.left == null)) return null;
        boolean succeeded = members.stream().allMatch(m -> m.left == Outcome.SUCCEEDED);
        end(succeeded ? "the job succeeded" : stopReason, Status.FAILED_PRECONDITION);
        if (succeeded) return JobState.JOB_STATE_SUCCEEDED;
        return host.cancelled() ? JobState.JOB_STATE_CANCELLED : Phase.ENDED;
    }

    private void startAttempt(Host host) {
        String resume = resumePoint(host);
        synchronized (this) {
            started = true;
            resumeFrom = resume;
            joinDeadline = System.nanoTime() + config.joinTimeout().toNanos();
            assignWhenComplete();
        }
    }

    /** Ends the failed attempt and opens the next, which resumes from the newest checkpoint. */
    private void restart(Failure f, Host host) {
        // Read before the next attempt opens, so that no worker is assigned an older resume point.
        String resume = resumePoint(host);
        synchronized (this) {
            restarts++;
            attempt++;
            lastFailure = f.message();
            members.clear();
            uniqueId = null;
            failure = null;
            phase = Phase.JOINING;
            resumeFrom = resume;
            joinDeadline = System.nanoTime() + config.joinTimeout().toNanos();
            notifyAll();
        }
        host.message("attempt %d failed: %s; restarting from %s (restart %d of %d, trainer-svc.cluster.max-restarts)"
                .formatted(
                        attempt - 1,
                        f.message(),
                        resume.isEmpty() ? "the start" : "checkpoint " + resume,
                        restarts,
                        config.maxRestarts()));
    }

    /** The newest recorded checkpoint, else the spec's resume_from, else "" (a fresh start). */
    private String resumePoint(Host host) {
        return host.latestCheckpoint().orElse(spec.hasResumeFrom() ? spec.getResumeFrom() : "");
    }

    private ClusterJobFailedException fail(Failure f, Host host) {
        synchronized (this) {
            end(f.message(), Status.FAILED_PRECONDITION);
        }
        String resumable = host.latestCheckpoint()
                .map(c -> "it can resume from its last checkpoint, " + c + " (submit it with spec.resume_from)")
                .orElse("no checkpoint was written");
        String after = restarts == 0 ? "" : " (attempt " + attempt + ", after " + restarts + " restarts)";
        return new ClusterJobFailedException(
                "the job's workers failed" + after + ": " + f.message() + "; " + resumable);
    }

    private void end(String reason, Status status) {
        phase = Phase.ENDED;
        endReason = reason;
        endStatus = status;
        members.clear();
        notifyAll();
    }

    private void assignWhenComplete() {
        if (phase != Phase.JOINING || !started || members.size() < expected) return;
        // Node indexes order the ranks (an indexed Job's pods), arrival the rest.
        List<Member> ordered = members.stream()
                .sorted(Comparator.comparing(m -> m.nodeIndex == null ? Integer.MAX_VALUE : m.nodeIndex))
                .toList();
        int rank = 0;
        for (Member m : ordered) {
            m.firstRank = rank;
            rank += m.devices;
        }
        if (batchSize % rank != 0) {
            // The same refusal as spec.devices on one machine: no restart changes the workers' devices.
            failure = new Failure(
                    "world size %d (%s) does not divide batch_size %d: each rank takes an equal slice of every micro-batch"
                            .formatted(
                                    rank,
                                    ordered.stream().map(Member::describe).collect(Collectors.joining(", ")),
                                    batchSize),
                    false);
            notifyAll();
            return;
        }
        long now = System.nanoTime();
        for (Member m : ordered) {
            m.lastBeat = now;
            m.assignment = JoinResponse.newBuilder()
                    .setWorkerId(m.workerId)
                    .setAttempt(attempt)
                    .setFirstRank(m.firstRank)
                    .setDevices(m.devices)
                    .setWorldSize(rank)
                    .setWorkers(expected)
                    .setSpec(spec)
                    .setResumeFrom(resumeFrom)
                    .setHeartbeatIntervalMs(config.heartbeatInterval().toMillis())
                    .setHeartbeatTimeoutMs(config.heartbeatTimeout().toMillis())
                    .setKeepCheckpoints(keepCheckpoints)
                    .build();
        }
        phase = Phase.RUNNING;
        news.add("attempt %d: %d workers joined, world size %d: %s%s"
                .formatted(
                        attempt,
                        expected,
                        rank,
                        ordered.stream().map(Member::describe).collect(Collectors.joining(", ")),
                        resumeFrom.isEmpty() ? "" : "; resuming from " + resumeFrom));
        notifyAll();
    }

    private String joinTimeoutMessage() {
        String joined = members.isEmpty()
                ? "none"
                : members.stream().map(Member::describe).collect(Collectors.joining(", "));
        return "%d of %d workers joined within %s (joined: %s); the others never arrived (trainer-svc.cluster.join-timeout)"
                .formatted(
                        members.size(), expected, seconds(config.joinTimeout().toNanos()), joined);
    }

    private void requireNotEnded() {
        if (phase == Phase.ENDED)
            throw endStatus
                    .withDescription("job " + jobId + " has ended: " + endReason)
                    .asRuntimeException();
    }

    private Member memberAt(int index) {
        return members.stream()
                .filter(m -> m.nodeIndex != null && m.nodeIndex == index)
                .findFirst()
                .orElse(null);
    }

    private Member find(String workerId) {
        return members.stream()
                .filter(m -> m.workerId.equals(workerId) && m.assignment != null)
                .findFirst()
                .orElse(null);
    }

    /** The running attempt's member with this id; ABORTED for one of an ended attempt. */
    private Member current(String workerId) {
        Member member = find(workerId);
        if (member == null) {
            requireNotEnded();
            throw Status.ABORTED
                    .withDescription("worker " + workerId + " is not in job " + jobId + "'s current attempt " + attempt
                            + (lastFailure == null ? "" : " (the last one ended: " + lastFailure + ")"))
                    .asRuntimeException();
        }
        return member;
    }

    private static HeartbeatResponse directive(Directive directive, String reason) {
        return HeartbeatResponse.newBuilder()
                .setDirective(directive)
                .setReason(reason == null ? "" : reason)
                .build();
    }

    private static String seconds(long nanos) {
        return "%.1f s".formatted(nanos / 1e9);
    }
}

package plaid.trainer.cluster;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import plaid.model.TrainingDivergedException;
import plaid.v1.AwaitUniqueIdRequest;
import plaid.v1.CheckpointInfo;
import plaid.v1.HeartbeatRequest;
import plaid.v1.HeartbeatResponse;
import plaid.v1.HeartbeatResponse.Directive;
import plaid.v1.JoinResponse;
import plaid.v1.LeaveRequest;
import plaid.v1.PublishUniqueIdRequest;
import plaid.v1.ReportRequest;
import plaid.v1.StepMetrics;
import plaid.v1.ValidationProgress;
import plaid.v1.ValidationResult;

/**
 * One attempt of a {@link Worker}: exchanges the unique id, heartbeats on its own thread, runs
 * the ranks, and leaves. It is the ranks' {@link RankContext}.
 */
final class WorkerAttempt implements RankContext {
    /** How an attempt ended for this worker. */
    enum Result {
        /** The job succeeded. */
        SUCCEEDED,
        /** The attempt is over (restart, stop, coordinator lost): join again. */
        REJOIN,
        /** The job has ended without success. */
        END
    }

    private static final long CALL_SECONDS = 30;

    private final Worker worker;
    private final JoinResponse joined;
    private final ScheduledExecutorService beats = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("heartbeat").factory());
    private final List<Runnable> abortActions = new ArrayList<>();
    private volatile boolean stop;
    private volatile int step;
    private volatile long lastAnswer = System.nanoTime();
    /** Set once, when the attempt is aborted: what the coordinator said (REJOIN or END). Guarded by abortActions. */
    private Directive abort;

    WorkerAttempt(Worker worker, JoinResponse joined) {
        this.worker = worker;
        this.joined = joined;
    }

    Result run(RankRunner runner) {
        long interval = Math.max(10, joined.getHeartbeatIntervalMs());
        beats.scheduleWithFixedDelay(this::beat, 0, interval, TimeUnit.MILLISECONDS);
        try {
            byte[] uniqueId = exchangeUniqueId(runner);
            int last = joined.getFirstRank() + joined.getDevices() - 1;
            worker.log(
                    "attempt %d: ranks %d-%d of %d on %d workers%s; unique id sha-256 %s",
                    joined.getAttempt(),
                    joined.getFirstRank(),
                    last,
                    joined.getWorldSize(),
                    joined.getWorkers(),
                    joined.getResumeFrom().isEmpty() ? "" : "; resuming from " + joined.getResumeFrom(),
                    digest(uniqueId));
            RankAssignment assignment = new RankAssignment(
                    worker.options().jobId(),
                    joined.getAttempt(),
                    joined.getSpec(),
                    worker.options().root(),
                    joined.getFirstRank(),
                    joined.getDevices(),
                    joined.getWorldSize(),
                    joined.getWorkers(),
                    uniqueId,
                    joined.getResumeFrom().isEmpty() ? Optional.empty() : Optional.of(joined.getResumeFrom()),
                    joined.getKeepCheckpoints());
            RankRunner.Outcome outcome = runner.run(assignment, this);
            // No heartbeat after the ranks are done: one racing the Leave would be answered END.
            beats.shutdownNow();
            Directive aborted = abortDirective();
            if (aborted != null) return aborted == Directive.END ? Result.END : Result.REJOIN;
            leave(
                    outcome == RankRunner.Outcome.SUCCEEDED
                            ? LeaveRequest.Outcome.SUCCEEDED
                            : LeaveRequest.Outcome.STOPPED,
                    "",
                    false);
            worker.log(
                    "attempt %d: ranks %s", joined.getAttempt(), outcome.name().toLowerCase());
            // A stop leaves the job to the coordinator: joining again finds it cancelled, or restarted.
            return outcome == RankRunner.Outcome.SUCCEEDED ? Result.SUCCEEDED : Result.REJOIN;
        } catch (Exception e) {
            Directive aborted = abortDirective();
            if (aborted != null) return aborted == Directive.END ? Result.END : Result.REJOIN;
            if (e instanceof StatusRuntimeException s && isOver(s.getStatus())) {
                worker.log("attempt %d is over: %s", joined.getAttempt(), Worker.describe(s.getStatus()));
                return Result.REJOIN;
            }
            worker.log("attempt %d: ranks failed: %s", joined.getAttempt(), e);
            e.printStackTrace(System.out);
            try {
                leave(LeaveRequest.Outcome.FAILED, e.toString(), !(e instanceof TrainingDivergedException));
            } catch (StatusRuntimeException ignored) {
                // The attempt ended anyway; joining again tells whether the job goes on.
            }
            return Result.REJOIN;
        } finally {
            beats.shutdownNow();
        }
    }

    private byte[] exchangeUniqueId(RankRunner runner) {
        if (joined.getFirstRank() == 0) {
            byte[] id = runner.newUniqueId();
            call().publishUniqueId(PublishUniqueIdRequest.newBuilder()
                    .setJobId(worker.options().jobId())
                    .setWorkerId(joined.getWorkerId())
                    .setUniqueId(ByteString.copyFrom(id))
                    .build());
            return id;
        }
        // No deadline: rank 0's worker may take long to start; its death ends the wait (ABORTED).
        return worker.rendezvous()
                .awaitUniqueId(AwaitUniqueIdRequest.newBuilder()
                        .setJobId(worker.options().jobId())
                        .setWorkerId(joined.getWorkerId())
                        .build())
                .getUniqueId()
                .toByteArray();
    }

    private void beat() {
        try {
            HeartbeatResponse answer = call().heartbeat(HeartbeatRequest.newBuilder()
                    .setJobId(worker.options().jobId())
                    .setWorkerId(joined.getWorkerId())
                    .setStep(step)
                    .build());
            lastAnswer = System.nanoTime();
            switch (answer.getDirective()) {
                case STOP -> {
                    if (!stop) worker.log("stopping: %s", answer.getReason());
                    stop = true;
                }
                case REJOIN, END -> abort(answer.getDirective(), answer.getReason());
                default -> {}
            }
        } catch (StatusRuntimeException e) {
            long silent = System.nanoTime() - lastAnswer;
            if (silent > TimeUnit.MILLISECONDS.toNanos(joined.getHeartbeatTimeoutMs()))
                abort(Directive.REJOIN, "no answer from the coordinator: " + Worker.describe(e.getStatus()));
        } catch (RuntimeException e) {
            worker.log("heartbeat failed: %s", e);
        }
    }

    private void abort(Directive directive, String reason) {
        List<Runnable> actions;
        synchronized (abortActions) {
            if (abort != null) return;
            abort = directive;
            actions = List.copyOf(abortActions);
        }
        worker.log("attempt %d aborted (%s): %s", joined.getAttempt(), directive, reason);
        actions.forEach(WorkerAttempt::runQuietly);
    }

    private Directive abortDirective() {
        synchronized (abortActions) {
            return abort;
        }
    }

    private void leave(LeaveRequest.Outcome outcome, String failure, boolean retryable) {
        call().leave(LeaveRequest.newBuilder()
                .setJobId(worker.options().jobId())
                .setWorkerId(joined.getWorkerId())
                .setOutcome(outcome)
                .setFailure(failure)
                .setRetryable(retryable)
                .build());
    }

    @Override
    public boolean stopRequested() {
        return stop;
    }

    @Override
    public boolean aborted() {
        return abortDirective() != null;
    }

    @Override
    public void onAbort(Runnable action) {
        synchronized (abortActions) {
            if (abort == null) {
                abortActions.add(action);
                return;
            }
        }
        runQuietly(action);
    }

    @Override
    public void progress(int stepsDone) {
        step = stepsDone;
    }

    @Override
    public void metrics(StepMetrics metrics) {
        report(ReportRequest.newBuilder().setMetrics(metrics));
    }

    @Override
    public void validating(ValidationProgress progress) {
        report(ReportRequest.newBuilder().setValidating(progress));
    }

    @Override
    public void validation(ValidationResult result) {
        report(ReportRequest.newBuilder().setValidation(result));
    }

    @Override
    public void checkpoint(CheckpointInfo checkpoint) {
        report(ReportRequest.newBuilder().setCheckpoint(checkpoint));
    }

    @Override
    public void message(String text) {
        report(ReportRequest.newBuilder().setMessage(text));
    }

    private void report(ReportRequest.Builder report) {
        if (joined.getFirstRank() != 0)
            throw new IllegalStateException(
                    "only the worker holding rank 0 reports; this one holds ranks from " + joined.getFirstRank());
        call().report(report.setJobId(worker.options().jobId())
                .setWorkerId(joined.getWorkerId())
                .build());
    }

    private plaid.v1.ClusterRendezvousGrpc.ClusterRendezvousBlockingStub call() {
        return worker.rendezvous().withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS);
    }

    /** The attempt has ended at the coordinator, or the coordinator is gone: join again. */
    private static boolean isOver(Status status) {
        return status.getCode() == Status.Code.ABORTED
                || status.getCode() == Status.Code.UNAVAILABLE
                || status.getCode() == Status.Code.FAILED_PRECONDITION;
    }

    private static void runQuietly(Runnable action) {
        try {
            action.run();
        } catch (RuntimeException e) {
            System.out.println("worker: an abort action failed: " + e);
        }
    }

    static String digest(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}

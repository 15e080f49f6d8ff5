package plaid.trainer;

import static plaid.service.Replies.reply;
import static plaid.service.Replies.status;

import com.google.protobuf.ByteString;
import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import jakarta.inject.Inject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import plaid.service.InvalidArgument;
import plaid.service.MalformedRequests;
import plaid.trainer.cluster.ClusterCoordinator;
import plaid.v1.CancelJobRequest;
import plaid.v1.CancelSweepRequest;
import plaid.v1.CheckpointPlots;
import plaid.v1.EvaluateLikelihoodProgress;
import plaid.v1.EvaluateLikelihoodRequest;
import plaid.v1.GetCheckpointPlotsRequest;
import plaid.v1.GetJobRequest;
import plaid.v1.GetSweepRequest;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.ListJobsRequest;
import plaid.v1.ListJobsResponse;
import plaid.v1.ListSweepsRequest;
import plaid.v1.ListSweepsResponse;
import plaid.v1.SubmitJobRequest;
import plaid.v1.SubmitSweepRequest;
import plaid.v1.Sweep;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;
import plaid.v1.WatchJobRequest;

/**
 * The gRPC face of the trainer service: request checks and translation. Unary calls run on
 * worker threads ({@link Blocking}) because they use the database; the streams run on their
 * own virtual threads, as they last as long as a job or an evaluation.
 */
@GrpcService
public class TrainerGrpcService implements TrainerServiceGrpc.AsyncService, BindableService {
    private final TrainerServiceConfig config;
    private final RunRoot root;
    private final JobStore store;
    private final JobEvents events;
    private final JobRunner runner;
    private final TrainingCorpus corpus;
    private final LikelihoodEvaluations evaluations;
    // Sweeps (SweepRunner has their logic); injected into fields to leave the constructor as it is.
    @Inject
    SweepRunner sweeps;

    @Inject
    SweepStore sweepStore;

    @Inject
    ClusterCoordinator cluster;

    TrainerGrpcService(
            TrainerServiceConfig config,
            RunRoot root,
            JobStore store,
            JobEvents events,
            JobRunner runner,
            TrainingCorpus corpus,
            LikelihoodEvaluations evaluations) {
        this.config = config;
        this.root = root;
        this.store = store;
        this.events = events;
        this.runner = runner;
        this.corpus = corpus;
        this.evaluations = evaluations;
    }

    /** Requests that do not parse (invalid UTF-8 in a string) are refused naming the field, not dropped. */
    @Override
    public ServerServiceDefinition bindService() {
        return MalformedRequests.checked(TrainerServiceGrpc.bindService(this));
    }

    @Override
    @Blocking
    public void submitJob(SubmitJobRequest request, StreamObserver<Job> response) {
        reply(response, () -> {
            InvalidArgument.require(request.hasSpec(), "spec", "must be set");
            // A retry returns the job even when its model_save_path now exists: the job made it.
            Optional<Job> earlier = store.byRequestId(request.getRequestId());
            if (earlier.isPresent()) return earlier.get();
            TrainingSpec spec = request.getSpec();
            RunPlan plan = RunPlan.of(spec, config.keepCheckpoints());
            // A coordinator of worker machines trains nothing itself: its heap is not the job's.
            if (!cluster.enabled())
                JobMemory.of(plan.config(), config.shuffleBufferChunks(), plan.devices())
                        .requireFitsHeap(
                                "cpu".equals(config.backend()),
                                Runtime.getRuntime().maxMemory());
            corpus.check(spec.getCorpus(), plan.config());
            if (spec.hasResumeFrom()) requireDirectory(spec.getResumeFrom(), "spec.resume_from");
            if (spec.hasWeightsFrom()) requireDirectory(spec.getWeightsFrom(), "spec.weights_from");
            if (plan.config().modelSavePath != null) {
                InvalidArgument.require(
                        !Files.exists(root.savePath(plan.config().modelSavePath)),
                        RunRoot.MODEL_SAVE_PATH,
                        "'" + plan.config().modelSavePath
                                + "' already exists under the run root: a job does not overwrite another's weights");
            }
            // The fork's run name names the job unless the request names it.
            String displayName = request.getDisplayName().isEmpty() && plan.config().wandbRunName != null
                    ? plan.config().wandbRunName
                    : request.getDisplayName();
            Job job = store.create(spec, displayName, request.getRequestId(), plan.config().steps);
            runner.enqueue(job.getId());
            return job;
        });
    }

    @Override
    @Blocking
    public void getJob(GetJobRequest request, StreamObserver<Job> response) {
        reply(response, () -> job(request.getJobId()));
    }

    @Override
    @Blocking
    public void listJobs(ListJobsRequest request, StreamObserver<ListJobsResponse> response) {
        reply(response, () -> {
            InvalidArgument.require(request.getPageSize() >= 0, "page_size", "must not be negative");
            int pageSize = request.getPageSize() == 0
                    ? config.defaultPageSize()
                    : Math.min(request.getPageSize(), config.maxPageSize());
            int offset = pageOffset(request.getPageToken());
            // One more than the page tells whether another page follows.
            List<Job> jobs = store.page(request.getStatesList(), offset, pageSize + 1);
            ListJobsResponse.Builder reply =
                    ListJobsResponse.newBuilder().addAllJobs(jobs.subList(0, Math.min(pageSize, jobs.size())));
            if (jobs.size() > pageSize) reply.setNextPageToken(Integer.toString(offset + pageSize));
            return reply.build();
        });
    }

    @Override
    @Blocking
    public void cancelJob(CancelJobRequest request, StreamObserver<Job> response) {
        reply(response, () -> {
            InvalidArgument.require(!request.getJobId().isEmpty(), "job_id", "must not be empty");
            return runner.cancel(request.getJobId());
        });
    }

    @Override
    public void watchJob(WatchJobRequest request, StreamObserver<JobEvent> response) {
        stream(response, () -> {
            job(request.getJobId());
            events.watch(request.getJobId(), request.getAfterSequence(), (ServerCallStreamObserver<JobEvent>) response);
        });
    }

    @Override
    public void evaluateLikelihood(
            EvaluateLikelihoodRequest request, StreamObserver<EvaluateLikelihoodProgress> response) {
        stream(
                response,
                () -> evaluations.evaluate(request, (ServerCallStreamObserver<EvaluateLikelihoodProgress>) response));
    }

    @Override
    @Blocking
    public void getCheckpointPlots(GetCheckpointPlotsRequest request, StreamObserver<CheckpointPlots> response) {
        reply(response, () -> {
            Path dir = root.resolve(request.getCheckpoint(), "checkpoint");
            if (store.checkpointAt(root.relative(dir)).isEmpty())
                throw Status.NOT_FOUND
                        .withDescription("no checkpoint " + request.getCheckpoint())
                        .asRuntimeException();
            return CheckpointPlots.newBuilder()
                    .setNoiseSchedulePng(
                            ByteString.copyFrom(Files.readAllBytes(dir.resolve(CheckpointCharts.NOISE_SCHEDULE))))
                    .setLossCurvePng(ByteString.copyFrom(Files.readAllBytes(dir.resolve(CheckpointCharts.LOSS_CURVE))))
                    .build();
        });
    }

    @Override
    @Blocking
    public void submitSweep(SubmitSweepRequest request, StreamObserver<Sweep> response) {
        reply(response, () -> sweeps.submit(request));
    }

    @Override
    @Blocking
    public void getSweep(GetSweepRequest request, StreamObserver<Sweep> response) {
        reply(response, () -> sweeps.find(request.getSweepId()));
    }

    @Override
    @Blocking
    public void listSweeps(ListSweepsRequest request, StreamObserver<ListSweepsResponse> response) {
        reply(response, () -> {
            InvalidArgument.require(request.getPageSize() >= 0, "page_size", "must not be negative");
            int pageSize = request.getPageSize() == 0
                    ? config.defaultPageSize()
                    : Math.min(request.getPageSize(), config.maxPageSize());
            int offset = pageOffset(request.getPageToken());
            List<Sweep> page = sweepStore.page(offset, pageSize + 1);
            ListSweepsResponse.Builder reply =
                    ListSweepsResponse.newBuilder().addAllSweeps(page.subList(0, Math.min(pageSize, page.size())));
            if (page.size() > pageSize) reply.setNextPageToken(Integer.toString(offset + pageSize));
            return reply.build();
        });
    }

    @Override
    @Blocking
    public void cancelSweep(CancelSweepRequest request, StreamObserver<Sweep> response) {
        reply(response, () -> sweeps.cancel(request.getSweepId()));
    }

    private Job job(String jobId) {
        InvalidArgument.require(!jobId.isEmpty(), "job_id", "must not be empty");
        return store.find(jobId)
                .orElseThrow(() ->
                        Status.NOT_FOUND.withDescription("no job " + jobId).asRuntimeException());
    }

    private void requireDirectory(String relative, String field) {
        InvalidArgument.require(
                Files.isDirectory(root.resolve(relative, field)),
                field,
                "names no directory under the run root: " + relative);
    }

    private static int pageOffset(String token) {
        if (token.isEmpty()) return 0;
        try {
            int offset = Integer.parseInt(token);
            if (offset >= 0) return offset;
        } catch (NumberFormatException ignored) {
            // refused below
        }
        throw InvalidArgument.of("page_token", "is not one a ListJobsResponse gave");
    }

    /** A streaming call's body, run on a virtual thread; it ends the call itself unless it fails. */
    private static void stream(StreamObserver<?> response, ThrowingRunnable body) {
        Thread.ofVirtual().name("trainer-stream").start(() -> {
            try {
                body.run();
            } catch (Throwable e) {
                response.onError(status(e));
            }
        });
    }

    @FunctionalInterface
    private interface ThrowingRunnable {
        void run() throws Exception;
    }
}

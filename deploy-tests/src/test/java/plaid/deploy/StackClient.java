package plaid.deploy;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import plaid.v1.DataServiceGrpc;
import plaid.v1.DatasetInfo;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateRequest;
import plaid.v1.GetJobRequest;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.ListDatasetsRequest;
import plaid.v1.ListJobsRequest;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelInfo;
import plaid.v1.PrepareDatasetProgress;
import plaid.v1.PrepareDatasetRequest;
import plaid.v1.PrepareReport;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;
import plaid.v1.WatchJobRequest;

/** gRPC clients of the three services through the ports the stack publishes on 127.0.0.1. */
final class StackClient implements AutoCloseable {
    static final List<String> SERVICES = List.of("data-svc", "trainer-svc", "sampler-svc");
    private static final long CALL_SECONDS = 120;

    private final Map<String, ManagedChannel> channels = new LinkedHashMap<>();

    StackClient(int dataPort, int trainerPort, int samplerPort) {
        int[] ports = {dataPort, trainerPort, samplerPort};
        for (int i = 0; i < ports.length; i++)
            channels.put(
                    SERVICES.get(i),
                    ManagedChannelBuilder.forAddress("127.0.0.1", ports[i])
                            .usePlaintext()
                            .build());
    }

    /** Each service's overall status ("" service) from its gRPC health service. */
    Map<String, String> healthOfEach() {
        Map<String, String> statuses = new LinkedHashMap<>();
        channels.forEach((service, channel) -> statuses.put(
                service,
                HealthGrpc.newBlockingStub(channel)
                        .withDeadlineAfter(30, TimeUnit.SECONDS)
                        .check(HealthCheckRequest.getDefaultInstance())
                        .getStatus()
                        .name()));
        return statuses;
    }

    PrepareReport prepare(PrepareDatasetRequest request) {
        Iterator<PrepareDatasetProgress> progress =
                data().withDeadlineAfter(10, TimeUnit.MINUTES).prepareDataset(request);
        PrepareReport report = null;
        while (progress.hasNext()) {
            PrepareDatasetProgress event = progress.next();
            if (event.hasFinished()) report = event.getFinished();
        }
        if (report == null) throw new AssertionError("PrepareDataset ended without a report");
        return report;
    }

    Optional<DatasetInfo> dataset(String name) {
        return data().listDatasets(ListDatasetsRequest.getDefaultInstance()).getDatasetsList().stream()
                .filter(d -> d.getName().equals(name))
                .findFirst();
    }

    Job submit(TrainingSpec spec, String name) {
        return trainer()
                .submitJob(SubmitJobRequest.newBuilder()
                        .setSpec(spec)
                        .setDisplayName(name)
                        .build());
    }

    Job job(String jobId) {
        return trainer().getJob(GetJobRequest.newBuilder().setJobId(jobId).build());
    }

    List<Job> jobs() {
        return trainer().listJobs(ListJobsRequest.getDefaultInstance()).getJobsList();
    }

    /** The job once it has ended (succeeded, failed or cancelled). */
    Job awaitEnd(String jobId, Duration timeout) {
        return poll(
                jobId,
                timeout,
                "the end of job " + jobId,
                job -> job.getState() == JobState.JOB_STATE_SUCCEEDED
                        || job.getState() == JobState.JOB_STATE_FAILED
                        || job.getState() == JobState.JOB_STATE_CANCELLED);
    }

    /** The job once it has written its first checkpoint. */
    Job awaitCheckpoint(String jobId, Duration timeout) {
        return poll(jobId, timeout, "the first checkpoint of job " + jobId, job -> job.getCheckpointsCount() > 0);
    }

    /** What a job's recorded events tell: each step's loss, and the messages of its log. */
    record History(TreeMap<Integer, Double> losses, List<String> messages) {}

    /**
     * The job's recorded events, replayed from the start. A step run again after a resume
     * reports again; its last report is the one kept.
     */
    History history(String jobId) {
        TreeMap<Integer, Double> losses = new TreeMap<>();
        List<String> messages = new ArrayList<>();
        Iterator<JobEvent> events = trainer()
                .withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS)
                .watchJob(WatchJobRequest.newBuilder().setJobId(jobId).build());
        while (events.hasNext()) {
            JobEvent event = events.next();
            if (event.hasMetrics())
                losses.put(event.getMetrics().getStep(), event.getMetrics().getLoss());
            if (event.hasMessage()) messages.add(event.getMessage());
        }
        return new History(losses, messages);
    }

    ModelInfo load(LoadModelRequest request) {
        return sampler().loadModel(request);
    }

    List<String> generate(GenerateRequest request) {
        Iterator<GenerateEvent> events =
                sampler().withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS).generate(request);
        List<String> texts = new ArrayList<>();
        while (events.hasNext()) {
            GenerateEvent event = events.next();
            if (event.hasResult()) texts.addAll(event.getResult().getTextsList());
        }
        return texts;
    }

    @Override
    public void close() {
        channels.values().forEach(ManagedChannel::shutdownNow);
    }

    private Job poll(String jobId, Duration timeout, String what, java.util.function.Predicate<Job> done) {
        Instant deadline = Instant.now().plus(timeout);
        while (true) {
            Job job = job(jobId);
            if (done.test(job)) return job;
            if (Instant.now().isAfter(deadline))
                throw new AssertionError("no " + what + " within " + timeout + "; it is at " + job.getState() + " step "
                        + job.getStep());
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted awaiting " + what);
            }
        }
    }

    private DataServiceGrpc.DataServiceBlockingStub data() {
        return DataServiceGrpc.newBlockingStub(channels.get("data-svc"))
                .withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS);
    }

    private TrainerServiceGrpc.TrainerServiceBlockingStub trainer() {
        return TrainerServiceGrpc.newBlockingStub(channels.get("trainer-svc"))
                .withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS);
    }

    private SamplerServiceGrpc.SamplerServiceBlockingStub sampler() {
        return SamplerServiceGrpc.newBlockingStub(channels.get("sampler-svc"))
                .withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS);
    }
}

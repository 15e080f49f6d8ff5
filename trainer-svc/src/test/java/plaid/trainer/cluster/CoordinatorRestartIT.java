package plaid.trainer.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import plaid.service.LoopbackChannels;
import plaid.trainer.TrainingCorpus;
import plaid.v1.GetJobRequest;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.ModelShape;
import plaid.v1.Optimization;
import plaid.v1.Reporting;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;
import plaid.v1.WatchJobRequest;

/**
 * kill -9 of the coordinator (the packaged service) while two workers (the packaged worker,
 * counting runner) run a job: the restarted service takes the job up again, the workers notice
 * the silence, join again and finish it from its last checkpoint.
 */
class CoordinatorRestartIT {
    private static final Path APP = Path.of(
                    System.getProperty("plaid.trainer.jar", "target/quarkus-app/quarkus-run.jar"))
            .toAbsolutePath()
            .getParent();
    private static final int STEPS = 150;

    private final Path root = createRoot();
    private final int port = freePort();
    private final List<Process> workers = new ArrayList<>();
    private Process service;
    private ManagedChannel channel;

    @AfterEach
    void stop() throws InterruptedException {
        workers.forEach(Process::destroyForcibly);
        if (channel != null) channel.shutdownNow();
        if (service != null) {
            service.destroy();
            service.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void workersRejoinARestartedCoordinatorAndFinishTheJob() throws Exception {
        TrainerServiceGrpc.TrainerServiceBlockingStub trainer = start();
        Job job =
                trainer.submitJob(SubmitJobRequest.newBuilder().setSpec(spec()).build());
        Process first = worker(job.getId(), 0), second = worker(job.getId(), 1);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (job(trainer, job.getId()).getCheckpointsCount() == 0) {
            assertThat(System.nanoTime()).as("a first checkpoint").isLessThan(deadline);
            Thread.sleep(100);
        }
        service.destroyForcibly().waitFor();
        channel.shutdownNow();

        trainer = start();
        List<JobEvent> events = new ArrayList<>();
        trainer.watchJob(WatchJobRequest.newBuilder().setJobId(job.getId()).build())
                .forEachRemaining(events::add);
        Job done = job(trainer, job.getId());
        assertThat(done.getState()).as(done.getFailure() + "; " + root).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        List<String> messages = events.stream()
                .filter(JobEvent::hasMessage)
                .map(JobEvent::getMessage)
                .toList();
        // The new process's first attempt resumes from the checkpoint the old one recorded.
        assertThat(messages)
                .anyMatch(m -> m.startsWith("attempt 1: 2 workers joined") && m.contains("; resuming from jobs/"))
                .contains("counted to " + STEPS + " over 2 ranks (counting runner)");
        assertThat(first.waitFor(60, TimeUnit.SECONDS) && second.waitFor(60, TimeUnit.SECONDS))
                .isTrue();
        assertThat(first.exitValue()).isEqualTo(Worker.SUCCEEDED);
        assertThat(second.exitValue()).isEqualTo(Worker.SUCCEEDED);
        assertThat(Files.readString(root.resolve("worker-0.log"))).contains("joining job " + job.getId() + " again");
    }

    private static TrainingSpec spec() {
        return TrainingSpec.newBuilder()
                .setCorpus(TrainingCorpus.DEMO)
                .setSeed(7)
                .setShape(ModelShape.newBuilder()
                        .setDim(32)
                        .setNBlocks(2)
                        .setNHeads(2)
                        .setEmbedDim(8)
                        .setSeqLen(16)
                        .setVocabSize(300))
                .setOptimization(Optimization.newBuilder()
                        .setSteps(STEPS)
                        .setBatchSize(8)
                        .setLrWarmupSteps(5)
                        .setBiasWarmupSteps(5))
                .setReporting(
                        Reporting.newBuilder().setPrintFreq(5).setHookFreq(10).setCheckpointFreq(10))
                .build();
    }

    private static Job job(TrainerServiceGrpc.TrainerServiceBlockingStub trainer, String id) {
        return trainer.getJob(GetJobRequest.newBuilder().setJobId(id).build());
    }

    private Process worker(String jobId, int node) throws IOException {
        Process process = new ProcessBuilder(
                        ProcessHandle.current().info().command().orElse("java"),
                        "-cp",
                        APP + "/app/*:" + APP + "/lib/main/*:" + APP + "/lib/boot/*",
                        "-Dplaid.counting.step-millis=100",
                        Worker.class.getName(),
                        "--coordinator",
                        "127.0.0.1:" + port,
                        "--job",
                        jobId,
                        "--runner",
                        CountingRankRunner.NAME,
                        "--node-index",
                        Integer.toString(node),
                        "--root",
                        root.toString(),
                        "--connect-timeout",
                        "120s")
                .redirectErrorStream(true)
                .redirectOutput(root.resolve("worker-" + node + ".log").toFile())
                .start();
        workers.add(process);
        return process;
    }

    /** The packaged service as the coordinator of two-worker jobs, on a fixed port and root. */
    private TrainerServiceGrpc.TrainerServiceBlockingStub start() throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(
                List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(Arrays.asList(System.getProperty("plaid.jvm.flags", "").split("\\s+")));
        command.addAll(List.of(
                "-Djava.awt.headless=true",
                "-Dtrainer-svc.root=" + root,
                "-Dquarkus.http.port=" + port,
                "-Dtrainer-svc.demo-documents=100",
                "-Dtrainer-svc.cluster.workers=2",
                "-Dtrainer-svc.cluster.heartbeat-interval=200ms",
                "-Dtrainer-svc.cluster.heartbeat-timeout=3s",
                "-Dtrainer-svc.cluster.join-timeout=60s",
                "-jar",
                APP.resolve("quarkus-run.jar").toString()));
        command.removeIf(String::isEmpty);
        service = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(
                        root.resolve("service.log").toFile()))
                .start();
        channel = LoopbackChannels.open("127.0.0.1", port);
        LoopbackChannels.awaitServing(channel, service, Duration.ofSeconds(60), root.resolve("service.log"));
        return TrainerServiceGrpc.newBlockingStub(channel);
    }

    private static Path createRoot() {
        try {
            return Files.createTempDirectory("plaid-coordinator-restart-it");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

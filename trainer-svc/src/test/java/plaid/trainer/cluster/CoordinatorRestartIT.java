package plaid.trainer.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import plaid.trainer.PackagedTrainer;
import plaid.trainer.TinyJobs;
import plaid.trainer.TrainingCorpus;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.Reporting;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;

/**
 * kill -9 of the coordinator (the packaged service) while two workers (the packaged worker,
 * counting runner) run a job: the restarted service takes the job up again, the workers notice
 * the silence, join again and finish it from its last checkpoint.
 */
class CoordinatorRestartIT {
    private static final Path APP = PackagedTrainer.JAR.getParent();
    private static final int STEPS = 150;

    private final PackagedTrainer service = new PackagedTrainer(
            "plaid-coordinator-restart-it",
            List.of(
                    "-Dtrainer-svc.cluster.workers=2",
                    "-Dtrainer-svc.cluster.heartbeat-interval=200ms",
                    "-Dtrainer-svc.cluster.heartbeat-timeout=3s",
                    "-Dtrainer-svc.cluster.join-timeout=60s"));
    private final Path root = service.root();
    private final List<Process> workers = new ArrayList<>();

    @AfterEach
    void stop() throws InterruptedException {
        workers.forEach(Process::destroyForcibly);
        service.close();
    }

    @Test
    void workersRejoinARestartedCoordinatorAndFinishTheJob() throws Exception {
        TrainerServiceGrpc.TrainerServiceBlockingStub trainer = service.start();
        Job job =
                trainer.submitJob(SubmitJobRequest.newBuilder().setSpec(spec()).build());
        Process first = worker(job.getId(), 0), second = worker(job.getId(), 1);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (TinyJobs.job(trainer, job.getId()).getCheckpointsCount() == 0) {
            assertThat(System.nanoTime()).as("a first checkpoint").isLessThan(deadline);
            Thread.sleep(100);
        }
        service.kill();

        trainer = service.start();
        List<JobEvent> events = TinyJobs.watch(trainer, job.getId(), 0);
        Job done = TinyJobs.job(trainer, job.getId());
        assertThat(done.getState()).as(done.getFailure() + "; " + root).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        List<String> messages = TinyJobs.messages(events);
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
                .setShape(TinyJobs.shape())
                .setOptimization(TinyJobs.optimization(STEPS, 5))
                .setReporting(
                        Reporting.newBuilder().setPrintFreq(5).setHookFreq(10).setCheckpointFreq(10))
                .build();
    }

    private Process worker(String jobId, int node) throws IOException {
        Process process = new ProcessBuilder(
                        ProcessHandle.current().info().command().orElse("java"),
                        "-cp",
                        APP + "/app/*:" + APP + "/lib/main/*:" + APP + "/lib/boot/*",
                        "-Dplaid.counting.step-millis=100",
                        Worker.class.getName(),
                        "--coordinator",
                        "127.0.0.1:" + service.port(),
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
}

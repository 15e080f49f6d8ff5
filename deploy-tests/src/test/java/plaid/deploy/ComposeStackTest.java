package plaid.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.luben.zstd.ZstdOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import plaid.text.DemoCorpus;
import plaid.v1.CheckpointInfo;
import plaid.v1.DatasetFile;
import plaid.v1.DatasetInfo;
import plaid.v1.GenerateRequest;
import plaid.v1.Job;
import plaid.v1.JobState;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelInfo;
import plaid.v1.PrepareDatasetRequest;
import plaid.v1.PrepareReport;

/**
 * docker-compose.yml as a user runs it, with PostgreSQL as the trainer's database: build and
 * {@code up --wait}, then through the published ports: every service's gRPC health, a small
 * corpus prepared by data-svc, a tiny model trained on it by trainer-svc, loaded and sampled
 * by sampler-svc; a job whose trainer container is killed mid-run finishes after {@code up}
 * with the losses of an uninterrupted run; {@code down} and {@code up} keep jobs, checkpoints
 * and corpora (the named volumes). The steps share one stack, in order.
 *
 * <p>Bases: PLAID_JRE_IMAGE and PLAID_POSTGRES_IMAGE (default the real ones, as compose);
 * without a registry, deploy/base-images.sh builds stand-ins (.ci/run does). No Docker engine:
 * skipped, saying so (failed where PLAID_DEPLOY_TEST_REQUIRED=true, as in CI). An engine without a
 * base image: fails at once, naming it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ComposeStackTest {
    private static final String PROJECT = "plaid-deploy-test";
    private static final String CORPUS = "europarl-mini";
    private static final int STEPS = 240;
    private static final int CHECKPOINT_EVERY = 40;
    private static final Duration BUILD = Duration.ofMinutes(15);
    private static final Duration UP = Duration.ofMinutes(6);
    private static final Duration JOB = Duration.ofMinutes(10);

    @TempDir
    Path work;

    private Docker docker;
    private StackClient client;
    private TreeMap<Integer, Double> uninterruptedLosses;
    private String trainCorpusPath;
    private Job uninterrupted;
    private Job interrupted;
    /** Why the steps are skipped, reported by each (an abort in @BeforeAll would not be). */
    private Optional<String> noEngine = Optional.empty();

    @BeforeAll
    void buildAndStartTheStack() throws IOException {
        Map<String, String> env = new HashMap<>();
        int[] ports = freePorts(3);
        env.put("PLAID_DATA_PORT", String.valueOf(ports[0]));
        env.put("PLAID_TRAINER_PORT", String.valueOf(ports[1]));
        env.put("PLAID_SAMPLER_PORT", String.valueOf(ports[2]));
        docker = new Docker(env);
        noEngine = docker.skipWithoutEngine("the compose stack");
        if (noEngine.isPresent()) return;
        assertThat(docker.run(Duration.ofSeconds(30), "compose", "version").ok())
                .as("Docker Compose v2 (the docker compose plugin); .ci/run installs it")
                .isTrue();
        for (String service : List.of(
                "data-svc/target/quarkus-app",
                "trainer-svc/target/quarkus-app-postgresql",
                "sampler-svc/target/quarkus-app")) {
            assertThat(Docker.REPO.resolve(service).resolve("quarkus-run.jar"))
                    .as(
                            service
                                    + " (package with a Docker engine present: ./mvnw -pl data-svc,trainer-svc,sampler-svc -am package)")
                    .exists();
        }
        String hint =
                "without a registry, build stand-ins with deploy/base-images.sh and set PLAID_JRE_IMAGE and PLAID_POSTGRES_IMAGE";
        docker.requireImage(Docker.baseImage("PLAID_JRE_IMAGE", "eclipse-temurin:25-jre"), hint);
        docker.requireImage(Docker.baseImage("PLAID_POSTGRES_IMAGE", "postgres:16"), hint);

        compose(Duration.ofMinutes(2), "down", "--volumes", "--remove-orphans"); // a previous run's leftovers
        compose(BUILD, "build");
        compose(UP, "up", "--detach", "--wait");
        client = new StackClient(ports[0], ports[1], ports[2]);
    }

    @BeforeEach
    void skipWithoutEngine() {
        noEngine.ifPresent(Assumptions::abort);
    }

    @AfterAll
    void removeTheStack() {
        if (client != null) client.close();
        if (docker != null && noEngine.isEmpty())
            docker.run(Duration.ofMinutes(2), "compose", "-p", PROJECT, "down", "--volumes", "--remove-orphans");
    }

    @Test
    @Order(1)
    void everyServiceIsHealthyInDockerAndServesGrpcHealth() {
        for (String service : StackClient.SERVICES) {
            String container = PROJECT + "-" + service + "-1";
            assertThat(docker.require(
                                    Duration.ofSeconds(30),
                                    "inspect",
                                    "--format",
                                    "{{.State.Health.Status}} {{.Config.User}}",
                                    container)
                            .strip())
                    .as(container + ": its image's health check (plaid.service.HealthProbe) and non-root user")
                    .isEqualTo("healthy plaid");
        }
        assertThat(client.healthOfEach())
                .containsOnly(
                        Map.entry("data-svc", "SERVING"),
                        Map.entry("trainer-svc", "SERVING"),
                        Map.entry("sampler-svc", "SERVING"));
    }

    @Test
    @Order(2)
    void dataServicePreparesACorpusFromArchivesInItsVolume() throws IOException {
        List<String> documents = DemoCorpus.englishDocuments(300);
        Path sources = Files.createDirectories(work.resolve("sources"));
        writeArchive(sources.resolve("europarl.jsonl.zst"), documents);
        docker.require(
                Duration.ofMinutes(1), "cp", sources.toString(), PROJECT + "-data-svc-1:/var/lib/plaid/state/sources");

        PrepareReport report = client.prepare(PrepareDatasetRequest.newBuilder()
                .setSourceDir("sources")
                .setCorpus(CORPUS)
                .setValidationDocuments(20)
                .setTrainShards(1)
                .build());
        assertThat(report.getDocuments()).isEqualTo(documents.size());
        assertThat(report.getValidationDocuments()).isEqualTo(20);
        assertThat(report.getTrainDocuments()).isEqualTo(documents.size() - 20);

        DatasetInfo corpus = client.dataset(CORPUS).orElseThrow();
        assertThat(corpus.getAvailable()).isTrue();
        trainCorpusPath = corpus.getFilesList().stream()
                .map(DatasetFile::getPath)
                .filter(p -> p.contains("train"))
                .findFirst()
                .orElseThrow();
    }

    @Test
    @Order(3)
    void trainerTrainsOnItInPostgresAndTheSamplerGeneratesFromTheCheckpoint() {
        uninterrupted = client.awaitEnd(client.submit(spec(), "uninterrupted").getId(), JOB);
        assertThat(uninterrupted.getState()).as(uninterrupted.getFailure()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        assertThat(uninterrupted.getStep()).isEqualTo(STEPS);
        uninterruptedLosses = client.history(uninterrupted.getId()).losses();
        assertThat(uninterruptedLosses).as("a loss every step").hasSize(STEPS);
        assertThat(uninterruptedLosses.lastEntry().getValue())
                .as("training lowers the loss")
                .isLessThan(uninterruptedLosses.firstEntry().getValue());
        // The job is recorded in PostgreSQL, not an embedded H2 file in the trainer's volume.
        assertThat(docker.require(
                                Duration.ofSeconds(30),
                                "exec",
                                PROJECT + "-postgres-1",
                                "psql",
                                "-U",
                                "plaid",
                                "-d",
                                "plaid",
                                "-tAc",
                                "select count(*) from information_schema.tables where table_schema = 'public'")
                        .strip())
                .isNotEqualTo("0");
        assertThat(docker.run(
                                Duration.ofSeconds(30),
                                "exec",
                                PROJECT + "-trainer-svc-1",
                                "test",
                                "-e",
                                "/var/lib/plaid/state/db")
                        .ok())
                .isFalse();

        String checkpoint = last(uninterrupted.getCheckpointsList()).getPath();
        assertGenerates("tiny", checkpoint);
    }

    @Test
    @Order(4)
    void aJobWhoseTrainerContainerIsKilledFinishesAfterUpWithTheSameLosses() {
        String jobId = client.submit(spec(), "killed").getId();
        client.awaitCheckpoint(jobId, JOB);
        Job beforeKill = client.job(jobId);
        assertThat(beforeKill.getStep()).as("killed mid-job").isLessThan(STEPS);

        docker.require(Duration.ofMinutes(1), "kill", PROJECT + "-trainer-svc-1");
        compose(UP, "up", "--detach", "--wait");

        interrupted = client.awaitEnd(jobId, JOB);
        assertThat(interrupted.getState()).as(interrupted.getFailure()).isEqualTo(JobState.JOB_STATE_SUCCEEDED);
        StackClient.History history = client.history(jobId);
        assertThat(history.messages())
                .as("the restarted trainer resumed the job from its checkpoint")
                .anySatisfy(message -> assertThat(message).contains("resuming at step"));
        Map<Integer, Double> losses = history.losses();
        assertThat(losses.keySet()).isEqualTo(uninterruptedLosses.keySet());
        losses.forEach((step, loss) ->
                assertThat(loss).as("loss at step " + step).isCloseTo(uninterruptedLosses.get(step), within(1e-9)));
    }

    @Test
    @Order(5)
    void downAndUpKeepJobsCheckpointsAndCorpora() {
        compose(Duration.ofMinutes(2), "down");
        compose(UP, "up", "--detach", "--wait");

        assertThat(client.jobs())
                .extracting(Job::getId, Job::getState)
                .contains(
                        org.assertj.core.groups.Tuple.tuple(uninterrupted.getId(), JobState.JOB_STATE_SUCCEEDED),
                        org.assertj.core.groups.Tuple.tuple(interrupted.getId(), JobState.JOB_STATE_SUCCEEDED));
        assertThat(client.dataset(CORPUS))
                .hasValueSatisfying(corpus -> assertThat(corpus.getAvailable()).isTrue());
        assertGenerates("after-restart", last(interrupted.getCheckpointsList()).getPath());
    }

    private void assertGenerates(String name, String checkpoint) {
        ModelInfo model = client.load(LoadModelRequest.newBuilder()
                .setName(name)
                .setCheckpoint(checkpoint)
                .build());
        assertThat(model.getDevice()).as("no GPU reserved: the CPU").isEqualTo("cpu");
        List<String> texts = client.generate(GenerateRequest.newBuilder()
                .setModel(name)
                .setSamples(2)
                .setSteps(20)
                .setSeed(1)
                .build());
        assertThat(texts).hasSize(2).allSatisfy(text -> assertThat(text).isNotBlank());
    }

    private plaid.v1.TrainingSpec spec() {
        return plaid.v1.TrainingSpec.newBuilder()
                .setCorpus("data/" + trainCorpusPath)
                .setSeed(1)
                .setShape(plaid.v1.ModelShape.newBuilder()
                        .setDim(32)
                        .setNBlocks(2)
                        .setNHeads(2)
                        .setEmbedDim(8)
                        .setSeqLen(16)
                        .setVocabSize(512))
                .setOptimization(plaid.v1.Optimization.newBuilder()
                        .setSteps(STEPS)
                        .setBatchSize(8)
                        .setLrWarmupSteps(5)
                        .setBiasWarmupSteps(5))
                .setReporting(plaid.v1.Reporting.newBuilder()
                        .setPrintFreq(1)
                        .setHookFreq(STEPS)
                        .setCheckpointFreq(CHECKPOINT_EVERY)
                        .setKeepCheckpoints(2)
                        .setValSteps(2)
                        .setValBatchSize(8)
                        .setFinalValSteps(2))
                .build();
    }

    /** {@code docker compose -p PROJECT args...}, failing the test with its output unless it succeeds. */
    private void compose(Duration timeout, String... args) {
        String[] command = new String[args.length + 3];
        command[0] = "compose";
        command[1] = "-p";
        command[2] = PROJECT;
        System.arraycopy(args, 0, command, 3, args.length);
        docker.require(timeout, command);
    }

    /** The archive format data-svc reads: zstd-compressed JSON lines with meta.lang. */
    private static void writeArchive(Path file, List<String> documents) {
        ObjectMapper json = new ObjectMapper();
        try (OutputStream out = new ZstdOutputStream(Files.newOutputStream(file))) {
            for (String document : documents) {
                Map<String, Object> line = Map.of("text", document, "meta", Map.of("lang", "en"));
                out.write((json.writeValueAsString(line) + "\n").getBytes(StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static CheckpointInfo last(List<CheckpointInfo> checkpoints) {
        assertThat(checkpoints).isNotEmpty();
        return checkpoints.getLast();
    }

    private static int[] freePorts(int count) throws IOException {
        ServerSocket[] sockets = new ServerSocket[count];
        try {
            int[] ports = new int[count];
            for (int i = 0; i < count; i++) ports[i] = (sockets[i] = new ServerSocket(0)).getLocalPort();
            return ports;
        } finally {
            for (ServerSocket socket : sockets) if (socket != null) socket.close();
        }
    }
}

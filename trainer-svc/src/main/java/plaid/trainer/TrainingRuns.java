package plaid.trainer;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.model.CheckpointDirectory;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.model.TrainingDivergedException;
import plaid.model.parallel.DataParallelTrainer;
import plaid.options.PlaidConfig;
import plaid.text.TokenStream;
import plaid.v1.CheckpointInfo;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.StepMetrics;
import plaid.v1.TrainingSpec;
import plaid.v1.ValidationProgress;
import plaid.v1.ValidationResult;

/**
 * Runs one job on the calling thread: prepares its data, starts fresh or from its newest
 * checkpoint (the same seed continues the same random streams and data order) on this machine's
 * one device or N ranks, then runs {@link TrainingLoop} until done, cancelled or the service
 * stops, reporting as the job's events.
 */
@ApplicationScoped
public class TrainingRuns {
    private final TrainerServiceConfig config;
    private final RunRoot root;
    private final TrainingCorpus corpus;
    private final JobStore store;
    private final JobEvents events;
    private final Counter completedSteps;
    /** The newest report's throughput, whichever job made it; 0 until the first report. */
    private volatile double reportedTokensPerSecond;

    TrainingRuns(
            TrainerServiceConfig config,
            RunRoot root,
            TrainingCorpus corpus,
            JobStore store,
            JobEvents events,
            MeterRegistry meters) {
        this.config = config;
        this.root = root;
        this.corpus = corpus;
        this.store = store;
        this.events = events;
        this.completedSteps = Counter.builder("plaid.trainer.steps")
                .description("Optimizer steps completed, all jobs together")
                .register(meters);
        Gauge.builder("plaid.trainer.tokens.per.second", this, runs -> runs.reportedTokensPerSecond)
                .description("Training throughput at the newest step report (every print_freq steps)")
                .register(meters);
    }

    /** Trains the job; returns the state it ended in, or null when the service stopped it (it stays running). */
    JobState run(Job job, RunControl control) throws IOException {
        TrainingSpec spec = job.getSpec();
        RunPlan plan = RunPlan.of(spec, config.keepCheckpoints());
        PlaidConfig options = plan.config();
        TrainingCorpus.Prepared data = corpus.prepare(job.getId(), spec.getCorpus(), options);
        Path start = store.latestCheckpoint(job.getId())
                .map(c -> root.path().resolve(c.path))
                .orElse(spec.hasResumeFrom() ? root.resolve(spec.getResumeFrom(), "spec.resume_from") : null);
        CheckpointDirectory from = start == null ? null : CheckpointDirectory.open(root.path(), start);
        var setup = new TrainingLoop.Setup(
                job.getId(), plan, root, data, config.shuffleBufferChunks(), config.checkpointFormat());
        TokenStream stream = TrainingLoop.trainingStream(setup, from);
        int devices = plan.devices();
        List<ComputeBackend> backends = devices == 1
                ? List.of(ComputeBackends.create(config.backend()))
                : ComputeBackends.createRanks(config.backend(), devices);
        try {
            // Every rank initialises (or loads) the same weights: initialisation is deterministic in the seed.
            List<PlaidParameters> replicas = TrainingLoop.replicas(setup, spec, from, backends);
            RandomSource random = new RandomSource(options.seed);
            Trainer.BatchSource batches = TrainingCorpus.batches(stream);
            if (devices == 1) {
                Trainer trainer = new Trainer(options, replicas.getFirst(), random, batches, 0);
                int next = TrainingLoop.restore(List.of(trainer), from);
                return train(setup, RankGroup.of(trainer), stream, control, next, start);
            }
            try (DataParallelTrainer dp = new DataParallelTrainer(
                    options, replicas, ComputeBackends.collective(backends), random, batches, 0)) {
                if (plan.zero()) dp.shardOptimizerState();
                int next = TrainingLoop.restore(dp.trainers(), from);
                events.append(
                        job.getId(),
                        JobEvent.newBuilder()
                                .setMessage("data-parallel on %d %s ranks (%s), %d rows each per micro-batch%s"
                                        .formatted(
                                                devices,
                                                backends.getFirst().name(),
                                                ComputeBackends.isCuda(backends)
                                                        ? "NCCL"
                                                        : "in-process reference all-reduce",
                                                options.batchSize / devices,
                                                plan.zero() ? "; ZeRO-1: AdamW moments sharded over the ranks" : "")));
                return train(setup, RankGroup.of(dp), stream, control, next, start);
            }
        } finally {
            for (ComputeBackend b : backends) b.close();
        }
    }

    private JobState train(
            TrainingLoop.Setup setup, RankGroup ranks, TokenStream stream, RunControl control, int next, Path start)
            throws IOException {
        String jobId = setup.jobId();
        TrainingLoop.Control stop = () -> control.cancelled() || control.shuttingDown();
        try {
            return switch (new TrainingLoop(
                            setup,
                            ranks,
                            stream,
                            stop,
                            new JobReports(jobId, setup.plan().keepCheckpoints()))
                    .run(next, start)) {
                case FINISHED -> JobState.JOB_STATE_SUCCEEDED;
                case STOPPED -> control.cancelled() ? JobState.JOB_STATE_CANCELLED : null;
            };
        } catch (TrainingDivergedException diverged) {
            // The failing step changed nothing and no checkpoint is written after it: the newest one stays.
            String kept = store.latestCheckpoint(jobId)
                    .map(c -> "its last checkpoint, " + c.path + ", is kept")
                    .orElse("no checkpoint was written");
            events.append(jobId, JobEvent.newBuilder().setMessage(diverged.getMessage() + ": the job fails; " + kept));
            throw diverged;
        }
    }

    /** A service job's reports: its events, the service's meters, and the charts in its checkpoints. */
    private final class JobReports implements TrainingReports {
        private final String jobId;
        private final int keepCheckpoints;

        JobReports(String jobId, int keepCheckpoints) {
            this.jobId = jobId;
            this.keepCheckpoints = keepCheckpoints;
        }

        @Override
        public void progress(int stepsDone) {
            completedSteps.increment();
        }

        @Override
        public void metrics(StepMetrics metrics) {
            reportedTokensPerSecond = metrics.getTokensPerSecond();
            events.append(jobId, JobEvent.newBuilder().setMetrics(metrics));
        }

        @Override
        public void validating(ValidationProgress progress) {
            events.append(jobId, JobEvent.newBuilder().setValidating(progress));
        }

        @Override
        public void validation(ValidationResult result) {
            events.append(jobId, JobEvent.newBuilder().setValidation(result));
        }

        @Override
        public void message(String text) {
            events.append(jobId, JobEvent.newBuilder().setMessage(text));
        }

        @Override
        public void addToCheckpoint(Path dir, Trainer trainer, int done) throws IOException {
            CheckpointCharts.write(dir, trainer.parameters(), store.lossCurve(jobId), done);
        }

        @Override
        public void checkpoint(CheckpointInfo info) throws IOException {
            for (CheckpointRecord dropped : events.checkpointWritten(jobId, info, keepCheckpoints))
                deleteTree(root.path().resolve(dropped.path));
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path file : files.sorted(Comparator.reverseOrder()).toList()) Files.delete(file);
        }
    }
}

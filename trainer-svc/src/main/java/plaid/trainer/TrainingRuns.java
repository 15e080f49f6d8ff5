package plaid.trainer;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.model.CheckpointDirectory;
import plaid.model.PlaidParameters;
import plaid.model.RandomSource;
import plaid.model.Trainer;
import plaid.model.TrainingCheckpoint;
import plaid.model.TrainingDivergedException;
import plaid.model.parallel.DataParallelTrainer;
import plaid.options.PlaidConfig;
import plaid.text.CorpusDirectory;
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
 * checkpoint (the same seed continues the same random streams and data order), then steps,
 * reports, validates and checkpoints until done, cancelled or the service stops.
 */
@ApplicationScoped
public class TrainingRuns {
    /** The training stream's position, saved beside the model's checkpoint files. */
    static final String STREAM_STATE = "token_stream.state";

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
        TokenStream.Config streamConfig = corpus.streamConfig(data, CorpusDirectory.Split.TRAIN, options);
        CheckpointDirectory from = start == null ? null : CheckpointDirectory.open(root.path(), start);
        Optional<Path> streamState = from == null ? Optional.empty() : from.existing(STREAM_STATE);
        TokenStream stream = streamState.isPresent()
                ? TokenStream.resume(data.tokenizer(), streamConfig, TokenStream.State.read(streamState.get()))
                : TokenStream.start(data.tokenizer(), streamConfig);
        int devices = plan.devices();
        List<ComputeBackend> backends = devices == 1
                ? List.of(ComputeBackends.create(config.backend()))
                : ComputeBackends.createRanks(config.backend(), devices);
        try {
            // Every rank initialises (or loads) the same weights: initialisation is deterministic in the seed.
            List<PlaidParameters> replicas = new ArrayList<>();
            for (ComputeBackend backend : backends) {
                if (start == null && spec.hasWeightsFrom()) {
                    Path weights = root.resolve(spec.getWeightsFrom(), "spec.weights_from");
                    replicas.add(CheckpointDirectory.open(root.path(), weights).loadWeights(options, backend));
                } else {
                    replicas.add(PlaidParameters.initialize(options, backend, options.seed));
                }
            }
            RandomSource random = new RandomSource(options.seed);
            Trainer.BatchSource batches = TrainingCorpus.batches(stream);
            if (devices == 1) {
                Trainer trainer = new Trainer(options, replicas.getFirst(), random, batches, 0);
                int next = from == null ? 0 : TrainingCheckpoint.restore(trainer, from);
                announceResumption(job, start, next);
                return new Run(job.getId(), plan, data, trainer, null, stream, control).from(next);
            }
            try (DataParallelTrainer dp = new DataParallelTrainer(
                    options, replicas, ComputeBackends.collective(backends), random, batches, 0)) {
                // One checkpoint for all ranks: each restores the same state, whatever N wrote it.
                int next = 0;
                for (Trainer t : dp.trainers()) next = from == null ? 0 : TrainingCheckpoint.restore(t, from);
                events.append(
                        job.getId(),
                        JobEvent.newBuilder()
                                .setMessage("data-parallel on %d %s ranks (%s), %d rows each per micro-batch"
                                        .formatted(
                                                devices,
                                                backends.getFirst().name(),
                                                backends.getFirst() instanceof plaid.backend.cpu.CpuBackend
                                                        ? "in-process reference all-reduce"
                                                        : "NCCL",
                                                options.batchSize / devices)));
                announceResumption(job, start, next);
                return new Run(job.getId(), plan, data, dp.primary(), dp, stream, control).from(next);
            }
        } finally {
            for (ComputeBackend b : backends) b.close();
        }
    }

    private void announceResumption(Job job, Path start, int next) {
        if (start != null)
            events.append(
                    job.getId(),
                    JobEvent.newBuilder().setMessage("resuming at step " + next + " from " + root.relative(start)));
    }

    /** One job's training loop and its hooks. */
    private final class Run {
        private final String jobId;
        private final RunPlan plan;
        private final PlaidConfig options;
        private final TrainingCorpus.Prepared data;
        private final Trainer trainer;
        /** The ranks when data-parallel, else null ({@link #trainer} alone). */
        private final DataParallelTrainer parallel;
        /** Per rank since the last report: seconds of its steps and of its gradient all-reduce. */
        private double[] rankSeconds, allReduceSeconds;

        private final TokenStream stream;
        private final RunControl control;
        private int lastCheckpoint = -1;

        Run(
                String jobId,
                RunPlan plan,
                TrainingCorpus.Prepared data,
                Trainer trainer,
                DataParallelTrainer parallel,
                TokenStream stream,
                RunControl control) {
            this.jobId = jobId;
            this.plan = plan;
            this.options = plan.config();
            this.data = data;
            this.trainer = trainer;
            this.parallel = parallel;
            if (parallel != null) {
                rankSeconds = new double[parallel.ranks()];
                allReduceSeconds = new double[parallel.ranks()];
            }
            this.stream = stream;
            this.control = control;
        }

        JobState from(int next) throws IOException {
            lastCheckpoint = next;
            try {
                return train(next);
            } catch (Stopped stopped) {
                return control.cancelled() ? JobState.JOB_STATE_CANCELLED : null;
            } catch (TrainingDivergedException diverged) {
                // The failing step changed nothing and no checkpoint is written after it: the newest one stays.
                String kept = store.latestCheckpoint(jobId)
                        .map(c -> "its last checkpoint, " + c.path + ", is kept")
                        .orElse("no checkpoint was written");
                events.append(
                        jobId, JobEvent.newBuilder().setMessage(diverged.getMessage() + ": the job fails; " + kept));
                throw diverged;
            }
        }

        private JobState train(int next) throws IOException {
            long reportedAt = System.nanoTime();
            int reportedSteps = next;
            for (int step = next; step < options.steps; step++) {
                if (control.cancelled() || control.shuttingDown()) {
                    if (step > lastCheckpoint) checkpoint(step);
                    throw new Stopped();
                }
                Trainer.StepMetrics metrics = step(step);
                completedSteps.increment();
                int done = step + 1;
                if (done % options.printFreq == 0 || done == options.steps) {
                    long now = System.nanoTime();
                    double seconds = (now - reportedAt) / 1e9, perStep = seconds / (done - reportedSteps);
                    report(metrics, plan.tokensPerStep() / perStep, perStep * (options.steps - done));
                    if (parallel != null) reportRanks(done - reportedSteps);
                    reportedAt = now;
                    reportedSteps = done;
                }
                if (done % options.hookFreq == 0 && done < options.steps) {
                    try {
                        validate(done, options.valSteps);
                    } catch (Stopped stopped) {
                        if (done > lastCheckpoint) checkpoint(done);
                        throw stopped;
                    }
                }
                if (done % plan.checkpointFreq() == 0 && done < options.steps) checkpoint(done);
            }
            // Checkpointed before the final validation, which may take long: a crash or stop
            // during it resumes here, at the validation, not at the last periodic checkpoint.
            if (lastCheckpoint < options.steps) checkpoint(options.steps);
            if (options.finalValSteps == 0) {
                events.append(
                        jobId,
                        JobEvent.newBuilder()
                                .setMessage("finished %d steps (no final validation: final_val_steps=0)"
                                        .formatted(options.steps)));
            } else {
                double finalNll = validate(options.steps, options.finalValSteps);
                events.append(
                        jobId,
                        JobEvent.newBuilder()
                                .setMessage("finished %d steps: final validation NLL %.4f nats/token"
                                        .formatted(options.steps, finalNll)));
            }
            return JobState.JOB_STATE_SUCCEEDED;
        }

        private Trainer.StepMetrics step(int step) {
            if (parallel == null) return trainer.step(step);
            DataParallelTrainer.Step s = parallel.step(step);
            for (int r = 0; r < rankSeconds.length; r++) {
                rankSeconds[r] += s.rankSeconds()[r];
                allReduceSeconds[r] += s.allReduceSeconds()[r];
            }
            return s.metrics();
        }

        /** Each rank's throughput (its slice of the tokens over its own time) and the all-reduce's share of its steps. */
        private void reportRanks(int steps) {
            StringBuilder perRank = new StringBuilder();
            double share = 0;
            for (int r = 0; r < rankSeconds.length; r++) {
                double tokens = (double) plan.tokensPerStep() / rankSeconds.length * steps;
                perRank.append(r == 0 ? "" : ", ")
                        .append("%d: %.0f tokens/s".formatted(r, tokens / Math.max(rankSeconds[r], 1e-9)));
                share = Math.max(share, allReduceSeconds[r] / Math.max(rankSeconds[r], 1e-9));
            }
            events.append(
                    jobId,
                    JobEvent.newBuilder()
                            .setMessage(
                                    "ranks %s; gradient all-reduce %.1f%% of a step".formatted(perRank, 100 * share)));
            java.util.Arrays.fill(rankSeconds, 0);
            java.util.Arrays.fill(allReduceSeconds, 0);
        }

        private void report(Trainer.StepMetrics m, double tokensPerSecond, double etaSeconds) {
            reportedTokensPerSecond = tokensPerSecond;
            events.append(
                    jobId,
                    JobEvent.newBuilder()
                            .setMetrics(StepMetrics.newBuilder()
                                    .setStep(m.step())
                                    .setLoss(m.loss())
                                    .setNll(m.nll())
                                    .setReconst(m.reconst())
                                    .setPrior(m.prior())
                                    .setGamma0(m.gamma0())
                                    .setGamma1(m.gamma1())
                                    .setReconstBatchSize(m.reconstBs())
                                    .setGradNorm(m.gradNorm())
                                    .setLrFactor(m.lrFactor())
                                    .setSeconds(m.seconds())
                                    .setTokensPerSecond(tokensPerSecond)
                                    .setEtaSeconds(etaSeconds)));
        }

        /**
         * train.py's validation: a fresh pass over the held-out documents, the same every time.
         * Reports progress about every tenth of its batches, and stops ({@link Stopped}) between
         * two batches when the job is cancelled or the service stops.
         */
        private double validate(int done, int steps) {
            TokenStream validation = TokenStream.start(
                    data.tokenizer(), corpus.streamConfig(data, CorpusDirectory.Split.VALIDATION, options));
            int every = Math.max(1, steps / 10);
            double nll = trainer.validationNll(
                    TrainingCorpus.batches(validation), steps, options.valBatchSize, options.seed, batches -> {
                        if (control.cancelled() || control.shuttingDown()) throw new Stopped();
                        if (batches % every == 0 && batches < steps) {
                            events.append(
                                    jobId,
                                    JobEvent.newBuilder()
                                            .setValidating(ValidationProgress.newBuilder()
                                                    .setStep(done)
                                                    .setBatchesDone(batches)
                                                    .setBatches(steps)));
                        }
                    });
            if (!Double.isFinite(nll)) throw new TrainingDivergedException(done, "the validation NLL", nll);
            events.append(
                    jobId,
                    JobEvent.newBuilder()
                            .setValidation(
                                    ValidationResult.newBuilder().setStep(done).setNll(nll)));
            return nll;
        }

        private void checkpoint(int done) throws IOException {
            // Never save NaN weights over the good ones (the next step would fail on them anyway).
            var poisoned = trainer.nonFiniteWeight();
            if (poisoned.isPresent())
                throw new TrainingDivergedException(done - 1, "weight " + poisoned.get(), Double.NaN);
            Path dir = root.checkpoint(jobId, options.modelSavePath, done);
            TrainingCheckpoint.save(trainer, done - 1, dir, config.checkpointFormat());
            stream.state().write(dir.resolve(STREAM_STATE));
            CheckpointDirectory.writeTokenizer(dir, data.tokenizerFile());
            CheckpointCharts.write(dir, trainer.parameters(), store.lossCurve(jobId), done);
            CheckpointInfo info = CheckpointInfo.newBuilder()
                    .setStep(done)
                    .setPath(root.relative(dir))
                    .setResumable(true)
                    .build();
            for (CheckpointRecord dropped : events.checkpointWritten(jobId, info, plan.keepCheckpoints()))
                deleteTree(root.path().resolve(dropped.path));
            lastCheckpoint = done;
        }
    }

    /** The job was cancelled or the service stops: unwinds the run to {@link Run#from}. */
    private static final class Stopped extends RuntimeException {
        Stopped() {
            super(null, null, false, false);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path file : files.sorted(Comparator.reverseOrder()).toList()) Files.delete(file);
        }
    }
}

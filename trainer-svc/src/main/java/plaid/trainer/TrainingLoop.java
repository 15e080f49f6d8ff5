package plaid.trainer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import plaid.backend.ComputeBackend;
import plaid.model.CheckpointDirectory;
import plaid.model.Optimizer;
import plaid.model.PlaidParameters;
import plaid.model.Trainer;
import plaid.model.TrainingCheckpoint;
import plaid.model.TrainingDivergedException;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.options.PlaidConfig;
import plaid.text.CorpusDirectory;
import plaid.text.TokenStream;
import plaid.v1.CheckpointInfo;
import plaid.v1.StepMetrics;
import plaid.v1.TrainingSpec;
import plaid.v1.ValidationProgress;
import plaid.v1.ValidationResult;

/**
 * A job's training loop, whoever runs it: the service's own jobs ({@link TrainingRuns}: one
 * device, or N ranks of this machine) and a cluster worker's share of a world ({@link
 * PlaidRankRunner}). From step {@code next}: step; report every print_freq; validate every
 * hook_freq, every rank evaluating its share of the batches; checkpoint every checkpoint_freq
 * and when stopped; at the end checkpoint, then the final validation. The process holding global
 * rank 0 writes the checkpoints and reports; the others train and validate. What differs between
 * the callers is passed in: the ranks ({@link RankGroup}), the stop flags ({@link Control}) and
 * where the reports go ({@link TrainingReports}).
 */
final class TrainingLoop {
    /** The training stream's position, saved beside the model's checkpoint files. */
    static final String STREAM_STATE = "token_stream.state";

    /**
     * A job as the loop sees it.
     *
     * @param shuffleBufferChunks the streams' shuffle buffer (trainer-svc.shuffle-buffer-chunks)
     * @param format how the checkpoints' tensors are written (trainer-svc.checkpoint-format)
     */
    record Setup(
            String jobId,
            RunPlan plan,
            RunRoot root,
            TrainingCorpus.Prepared data,
            int shuffleBufferChunks,
            CheckpointFormat format) {
        TokenStream.Config streamConfig(CorpusDirectory.Split split) {
            return TrainingCorpus.streamConfig(data, split, plan.config(), shuffleBufferChunks);
        }
    }

    /** How the caller stops the loop. */
    interface Control {
        /** Checkpoint and stop at the next step or validation batch (every process at the same one). */
        boolean stopRequested();

        /** Stop at once, without a checkpoint: the attempt is over, peers may be gone. */
        default boolean aborted() {
            return false;
        }
    }

    enum End {
        FINISHED,
        /** Stopped by {@link Control}: after a checkpoint, unless aborted. */
        STOPPED
    }

    private final Setup job;
    private final PlaidConfig options;
    private final RankGroup ranks;
    private final TokenStream stream;
    private final Control control;
    private final TrainingReports reports;
    private final boolean reporting;
    private int lastCheckpoint;

    TrainingLoop(Setup job, RankGroup ranks, TokenStream stream, Control control, TrainingReports reports) {
        this.job = job;
        this.options = job.plan().config();
        this.ranks = ranks;
        this.stream = stream;
        this.control = control;
        this.reports = reports;
        this.reporting = ranks.holdsRankZero();
    }

    /** The training stream: where the checkpoint {@code from} left it, else (null) at its start. */
    static TokenStream trainingStream(Setup job, CheckpointDirectory from) throws IOException {
        TokenStream.Config config = job.streamConfig(CorpusDirectory.Split.TRAIN);
        Optional<Path> state = from == null ? Optional.empty() : from.existing(STREAM_STATE);
        return state.isPresent()
                ? TokenStream.resume(job.data().tokenizer(), config, TokenStream.State.read(state.get()))
                : TokenStream.start(job.data().tokenizer(), config);
    }

    /**
     * One replica per backend, every one the same: spec.weights_from's weights for a fresh run
     * that names them, else the seed's initialisation (deterministic, so every rank and every
     * process makes the same). A checkpoint's are restored afterwards ({@link #restore}).
     */
    static List<PlaidParameters> replicas(
            Setup job, TrainingSpec spec, CheckpointDirectory from, List<ComputeBackend> backends) throws IOException {
        List<PlaidParameters> replicas = new ArrayList<>();
        for (ComputeBackend backend : backends) {
            if (from == null && spec.hasWeightsFrom()) {
                Path weights = job.root().resolve(spec.getWeightsFrom(), "spec.weights_from");
                replicas.add(CheckpointDirectory.open(job.root().path(), weights)
                        .loadWeights(job.plan().config(), backend));
            } else
                replicas.add(PlaidParameters.initialize(
                        job.plan().config(), backend, job.plan().config().seed));
        }
        return replicas;
    }

    /** Every rank restores the one checkpoint, whatever number of ranks wrote it: the step to continue at (0: fresh). */
    static int restore(List<Trainer> trainers, CheckpointDirectory from) throws IOException {
        int next = 0;
        if (from != null) for (Trainer t : trainers) next = TrainingCheckpoint.restore(t, from);
        return next;
    }

    /** Trains from step {@code next}; {@code start} is the checkpoint it resumes (null: a fresh run). */
    End run(int next, Path start) throws IOException {
        if (reporting && start != null)
            reports.message(
                    "resuming at step %d from %s".formatted(next, job.root().relative(start)));
        lastCheckpoint = next;
        try {
            return train(next);
        } catch (Stopped stopped) {
            return End.STOPPED;
        }
    }

    private End train(int next) throws IOException {
        long reportedAt = System.nanoTime();
        int reportedSteps = next;
        for (int step = next; step < options.steps; step++) {
            if (control.aborted()) return End.STOPPED;
            // Every process leaves at the same step, even when only one has been told to stop.
            if (ranks.anyProcess(control.stopRequested())) {
                if (step > lastCheckpoint) checkpoint(step);
                return End.STOPPED;
            }
            Trainer.StepMetrics m = ranks.step(step);
            int done = step + 1;
            reports.progress(done);
            if (reporting && (done % options.printFreq == 0 || done == options.steps)) {
                long now = System.nanoTime();
                double perStep = (now - reportedAt) / 1e9 / (done - reportedSteps);
                reports.metrics(metrics(m, job.plan().tokensPerStep() / perStep, perStep * (options.steps - done)));
                ranks.rankReport(job.plan().tokensPerStep(), done - reportedSteps)
                        .ifPresent(reports::message);
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
            if (done % job.plan().checkpointFreq() == 0 && done < options.steps) checkpoint(done);
        }
        // Checkpointed before the final validation, which may take long: a crash or stop
        // during it resumes here, at the validation, not at the last periodic checkpoint.
        if (lastCheckpoint < options.steps) checkpoint(options.steps);
        String finished = "finished %d steps%s"
                .formatted(options.steps, ranks.worldSize() > 1 ? " over %d ranks".formatted(ranks.worldSize()) : "");
        if (options.finalValSteps == 0) {
            if (reporting) reports.message(finished + " (no final validation: final_val_steps=0)");
        } else {
            double nll = validate(options.steps, options.finalValSteps);
            if (reporting) reports.message(finished + ": final validation NLL %.4f nats/token".formatted(nll));
        }
        return End.FINISHED;
    }

    private static StepMetrics metrics(Trainer.StepMetrics m, double tokensPerSecond, double etaSeconds) {
        return StepMetrics.newBuilder()
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
                .setEtaSeconds(etaSeconds)
                .build();
    }

    /**
     * train.py's validation: a fresh pass over the held-out documents, the same every time,
     * over every rank. Reports progress about every tenth of its batches, and stops ({@link
     * Stopped}) between two batches when asked to.
     */
    private double validate(int done, int batches) {
        TokenStream validation =
                TokenStream.start(job.data().tokenizer(), job.streamConfig(CorpusDirectory.Split.VALIDATION));
        int every = Math.max(1, batches / 10);
        double nll = ranks.validationNll(
                TrainingCorpus.batches(validation), batches, options.valBatchSize, options.seed, batchesDone -> {
                    if (ranks.anyProcess(control.stopRequested())) throw new Stopped();
                    if (reporting && batchesDone % every == 0 && batchesDone < batches)
                        reports.validating(ValidationProgress.newBuilder()
                                .setStep(done)
                                .setBatchesDone(batchesDone)
                                .setBatches(batches)
                                .build());
                });
        if (!Double.isFinite(nll)) throw new TrainingDivergedException(done, "the validation NLL", nll);
        if (reporting)
            reports.validation(
                    ValidationResult.newBuilder().setStep(done).setNll(nll).build());
        return nll;
    }

    /** The checkpoint of {@code done} steps, written by global rank 0's process alone; every process calls it. */
    private void checkpoint(int done) throws IOException {
        // Every process, at the same step: under ZeRO-1 the moments are gathered from their owners.
        Optimizer.State state = ranks.checkpointState();
        lastCheckpoint = done;
        if (!reporting) return;
        Trainer trainer = ranks.primary();
        // Never save NaN weights over the good ones (the next step would fail on them anyway).
        var poisoned = ranks.onPrimary(trainer::nonFiniteWeight);
        if (poisoned.isPresent()) throw new TrainingDivergedException(done - 1, "weight " + poisoned.get(), Double.NaN);
        Path dir = job.root().checkpoint(job.jobId(), options.modelSavePath, done);
        onPrimary(() -> TrainingCheckpoint.save(trainer, state, done - 1, dir, job.format()));
        stream.state().write(dir.resolve(STREAM_STATE));
        CheckpointDirectory.writeTokenizer(dir, job.data().tokenizerFile());
        onPrimary(() -> reports.addToCheckpoint(dir, trainer, done));
        reports.checkpoint(CheckpointInfo.newBuilder()
                .setStep(done)
                .setPath(job.root().relative(dir))
                .setResumable(true)
                .build());
    }

    private interface IoAction {
        void run() throws IOException;
    }

    private void onPrimary(IoAction action) throws IOException {
        try {
            ranks.onPrimary(() -> {
                try {
                    action.run();
                    return null;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** Asked to stop: unwinds the loop to {@link #run}. */
    private static final class Stopped extends RuntimeException {
        Stopped() {
            super(null, null, false, false);
        }
    }
}

package plaid.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;
import plaid.options.OptionTable;
import plaid.options.PlaidConfig;
import plaid.v1.CancelJobRequest;
import plaid.v1.EvaluateLikelihoodRequest;
import plaid.v1.Job;
import plaid.v1.JobState;
import plaid.v1.ListJobsRequest;
import plaid.v1.ModelShape;
import plaid.v1.Optimization;
import plaid.v1.Reporting;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;

@Command(
        name = "train",
        mixinStandardHelpOptions = true,
        description = {
            "Training jobs on trainer-svc.",
            "With train.py's flags and no subcommand, `plaid train --flag=value ...` is `plaid train submit`."
        },
        subcommands = {
            TrainCommand.Submit.class,
            TrainCommand.Watch.class,
            TrainCommand.Cancel.class,
            TrainCommand.ListJobs.class
        })
final class TrainCommand implements Callable<Integer> {
    /** The seed's command lines read `python train.py --flag=...`: the same flags right after `train` submit a job. */
    @Mixin
    Submit submit;

    /** picocli gives a mixin's {@code @Unmatched} to no one: train.py's flags land here and are handed on. */
    @Unmatched
    List<String> originalFlags = new ArrayList<>();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (originalFlags.isEmpty() && !submit.validateOnly && submit.corpus == null) {
            throw new ParameterException(
                    spec.commandLine(), "give train.py's flags (e.g. --batch_size=64) or a subcommand");
        }
        submit.originalFlags = originalFlags;
        return submit.call();
    }

    /** Exit code when a job succeeded but its validation NLL is above the threshold given. */
    static final int EXIT_NLL_ABOVE_THRESHOLD = 5;

    /** Runs {@code body} with a trainer stub, closing the channel afterwards. */
    static <T> T withTrainer(
            Services services, java.util.function.Function<TrainerServiceGrpc.TrainerServiceBlockingStub, T> body) {
        try (Services.Connection trainer = services.trainer()) {
            return body.apply(TrainerServiceGrpc.newBlockingStub(trainer.channel()));
        }
    }

    /** The exit code for a finished job: failed, above the NLL threshold, or fine. */
    static int verdict(Job job, Double maxValNll) {
        System.out.println("job " + job.getId() + " "
                + job.getState().name().replace("JOB_STATE_", "").toLowerCase(Locale.ROOT)
                + (job.hasLatestValidation()
                        ? String.format(
                                ", validation NLL %.4f",
                                job.getLatestValidation().getNll())
                        : "")
                + (job.getFailure().isEmpty() ? "" : ": " + job.getFailure()));
        // what `plaid sample --checkpoint` and `plaid eval --checkpoint` take
        if (job.getCheckpointsCount() > 0)
            System.out.println("checkpoint "
                    + job.getCheckpoints(job.getCheckpointsCount() - 1).getPath());
        if (job.getState() != JobState.JOB_STATE_SUCCEEDED) return PlaidCommand.EXIT_JOB_FAILED;
        if (maxValNll != null) {
            if (!job.hasLatestValidation()) {
                System.err.println("plaid: the job reported no validation NLL to compare with " + maxValNll);
                return EXIT_NLL_ABOVE_THRESHOLD;
            }
            // NaN compares false with everything: a diverged model's NLL must not pass the gate
            if (!(job.getLatestValidation().getNll() <= maxValNll)) {
                double nll = job.getLatestValidation().getNll();
                if (Double.isFinite(nll))
                    System.err.printf("plaid: validation NLL %.4f is above the threshold %.4f%n", nll, maxValNll);
                else
                    System.err.printf(
                            "plaid: validation NLL %s is not finite (the model diverged): it never passes the threshold%n",
                            nll);
                return EXIT_NLL_ABOVE_THRESHOLD;
            }
        }
        return 0;
    }

    @Command(
            name = "submit",
            mixinStandardHelpOptions = true,
            description = {
                "Submit a training job. Any train.py option is accepted as the original (and the seed's fork) writes it, "
                        + "e.g. --batch_size=64 --lr=1e-3 --diffusion_mode=BoW_embedding --BoW_cumsum_gamma=0.5.",
                "--steps=0 --weights_path=W --dataset=D is train.py's evaluation-only run: the likelihood of checkpoint W on the zero-shot set D."
            })
    static final class Submit implements Callable<Integer> {
        /** train.py's default dataset, the corpus name a job trains on when neither --corpus nor --dataset gives one. */
        static final String DEFAULT_CORPUS = "openwebtext2";

        @Mixin
        Services services;

        @Option(
                names = "--corpus",
                description = "a corpus of the services ('demo' is built in; default: train.py's --dataset, else "
                        + DEFAULT_CORPUS + ")")
        String corpus;

        @Option(names = "--seed", defaultValue = "0", description = "run seed (default: ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--name", defaultValue = "", description = "display name (default: --wandb_run_name)")
        String name;

        @Option(names = "--wait", description = "follow the job until it ends; the exit code says how it ended")
        boolean waitForEnd;

        @Option(
                names = "--max-val-nll",
                description = "with --wait: exit with 5 when the final validation NLL is above this")
        Double maxValNll;

        @Option(
                names = "--validate-only",
                description = "check the command line and print what it resolves to; contacts no service")
        boolean validateOnly;

        @Option(
                names = "--devices",
                defaultValue = "0",
                description =
                        "data-parallel devices of the trainer's machine: its GPUs, or CPU ranks on a CPU service"
                                + " (0: one device; must divide batch_size; the global batch stays batch_size × grad_accum_steps)")
        int devices;

        @Option(
                names = "--zero",
                defaultValue = "0",
                description = "optimizer-state sharding over the data-parallel ranks: 0 off, 1 ZeRO-1 (train.py's"
                        + " ZeroRedundancyOptimizer: each rank keeps the AdamW moments of its share of the parameters)")
        int zero;

        @Unmatched
        List<String> originalFlags = new ArrayList<>();

        @Override
        public Integer call() {
            Run run = withZero(withDevices(run(corpus, seed, originalFlags), devices), zero);
            if (validateOnly) {
                System.out.println("valid: " + run.summary());
                return 0;
            }
            return switch (run) {
                case Training training -> {
                    Job job = withTrainer(
                            services,
                            t -> t.submitJob(SubmitJobRequest.newBuilder()
                                    .setSpec(training.spec())
                                    .setDisplayName(name)
                                    .build()));
                    System.out.println(job.getId());
                    if (!waitForEnd) yield 0;
                    yield verdict(withTrainer(services, t -> JobWatcher.watch(t, job.getId(), System.out)), maxValNll);
                }
                case Evaluation evaluation -> EvalCommand.evaluate(services, evaluation.request());
            };
        }
    }

    /** {@code run} on {@code devices} data-parallel devices, checked as the trainer checks spec.devices. */
    static Run withDevices(Run run, int devices) {
        if (devices == 0) return run;
        if (!(run instanceof Training training))
            throw new IllegalArgumentException("option --devices applies to training jobs, not to --steps=0");
        if (devices < 0) throw new IllegalArgumentException("option --devices must be ≥ 0, got " + devices);
        int batch = training.config().batchSize;
        if (batch % devices != 0)
            throw new IllegalArgumentException("option --devices=" + devices + " must divide batch_size " + batch
                    + " (each device takes an equal slice of every micro-batch)");
        return new Training(training.spec().toBuilder().setDevices(devices).build(), training.config());
    }

    /** {@code run} with ZeRO stage {@code zero}, checked as the trainer checks spec.zero. */
    static Run withZero(Run run, int zero) {
        if (zero == 0) return run;
        if (!(run instanceof Training training))
            throw new IllegalArgumentException("option --zero applies to training jobs, not to --steps=0");
        if (zero != 1)
            throw new IllegalArgumentException(
                    "option --zero must be 0 (off) or 1 (ZeRO-1: the AdamW moments sharded over the ranks), got "
                            + zero);
        return new Training(training.spec().toBuilder().setZero(zero).build(), training.config());
    }

    /** What a train.py command line asks for. */
    sealed interface Run {
        /** One line for --validate-only. */
        String summary();
    }

    /** A training job, with the options the trainer will run it with. */
    record Training(TrainingSpec spec, PlaidConfig config) implements Run {
        @Override
        public String summary() {
            return "training job on corpus '" + spec.getCorpus() + "'"
                    + (spec.getDevices() > 1 ? " on " + spec.getDevices() + " devices" : "")
                    + (spec.getZero() == 1 ? " with ZeRO-1" : "")
                    + ": " + OriginalFlags.differingFromDefaults(config);
        }
    }

    /** train.py's --steps=0 run: the likelihood of --weights_path on --dataset. */
    record Evaluation(EvaluateLikelihoodRequest request, PlaidConfig config) implements Run {
        @Override
        public String summary() {
            return "evaluation (steps=0) of '" + request.getCheckpoint() + "' on " + request.getDataset()
                    + ", batch_size=" + request.getBatchSize()
                    + " seq_len=" + request.getSeqLen()
                    + "; the shape is the checkpoint's config.json's, the flags say: "
                    + OriginalFlags.differingFromDefaults(config);
        }
    }

    /**
     * A train.py command line ({@code --name=value} or {@code --name value}): each name is a field
     * of the shape, optimisation or reporting message, or one of train.py's --weights_path
     * (fine-tuning from those weights), --dataset (the corpus) and --steps=0 (evaluation only).
     * The options are checked as the trainer checks them.
     */
    static Run run(String corpus, long seed, List<String> args) {
        OriginalFlags flags = OriginalFlags.parse(args);
        Optional<String> weights = flags.take(OptionTable.WEIGHTS_PATH);
        Optional<String> dataset = flags.take(OptionTable.DATASET);
        if (corpus != null && dataset.isPresent() && !dataset.get().equals(corpus))
            throw new IllegalArgumentException("option --dataset=" + dataset.get() + " contradicts --corpus " + corpus);
        Optional<Integer> steps = flags.take(OptionTable.STEPS);
        boolean evaluation = steps.isPresent() && steps.get() == 0;
        ModelShape.Builder shape = ModelShape.newBuilder();
        Optimization.Builder optimization = Optimization.newBuilder();
        Reporting.Builder reporting = Reporting.newBuilder();
        if (!evaluation) steps.ifPresent(optimization::setSteps);
        flags.setInto(List.of(shape, optimization, reporting));
        TrainingSpec.Builder spec = TrainingSpec.newBuilder()
                .setSeed(seed)
                .setShape(shape)
                .setOptimization(optimization)
                .setReporting(reporting);
        PlaidConfig config = OriginalFlags.check(spec.build());
        if (evaluation) {
            String checkpoint = weights.orElseThrow(
                    () -> new IllegalArgumentException("option --steps=0 (evaluation only) needs --weights_path"));
            String set = dataset.or(() -> Optional.ofNullable(corpus))
                    .orElseThrow(() -> new IllegalArgumentException(
                            "option --steps=0 (evaluation only) needs --dataset, a zero-shot set such as wikitext2"));
            return new Evaluation(
                    EvaluateLikelihoodRequest.newBuilder()
                            .setCheckpoint(checkpoint)
                            .setDataset(set)
                            .setSplit("valid")
                            .setBatchSize(reporting.hasValBatchSize() ? reporting.getValBatchSize() : 0)
                            .setSeqLen(shape.hasSeqLen() ? shape.getSeqLen() : 0)
                            .setSeed(seed)
                            .build(),
                    config);
        }
        weights.ifPresent(spec::setWeightsFrom);
        spec.setCorpus(corpus != null ? corpus : dataset.orElse(Submit.DEFAULT_CORPUS));
        return new Training(spec.build(), config);
    }

    @Command(
            name = "watch",
            mixinStandardHelpOptions = true,
            description = "Follow a job until it ends; the exit code says how it ended.")
    static final class Watch implements Callable<Integer> {
        @Mixin
        Services services;

        @Parameters(paramLabel = "JOB")
        String jobId;

        @Option(names = "--max-val-nll", description = "exit with 5 when the final validation NLL is above this")
        Double maxValNll;

        @Override
        public Integer call() {
            return verdict(withTrainer(services, t -> JobWatcher.watch(t, jobId, System.out)), maxValNll);
        }
    }

    @Command(name = "cancel", mixinStandardHelpOptions = true, description = "Cancel a job (it checkpoints first).")
    static final class Cancel implements Callable<Integer> {
        @Mixin
        Services services;

        @Parameters(paramLabel = "JOB")
        String jobId;

        @Override
        public Integer call() {
            Job job = withTrainer(
                    services,
                    t -> t.cancelJob(
                            CancelJobRequest.newBuilder().setJobId(jobId).build()));
            System.out.println(job.getId() + " " + job.getState());
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List jobs.")
    static final class ListJobs implements Callable<Integer> {
        @Mixin
        Services services;

        @Override
        public Integer call() {
            var jobs = withTrainer(
                    services,
                    t -> t.listJobs(
                            ListJobsRequest.newBuilder().setPageSize(100).build()));
            System.out.printf("%-24s %-12s %10s  %s%n", "JOB", "STATE", "STEP", "NAME");
            for (Job j : jobs.getJobsList()) {
                System.out.printf(
                        "%-24s %-12s %10s  %s%n",
                        j.getId(),
                        j.getState().name().replace("JOB_STATE_", ""),
                        j.getStep() + "/" + j.getTotalSteps(),
                        j.getDisplayName());
            }
            return 0;
        }
    }
}

package plaid.cli;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Unmatched;
import plaid.options.SpecOptions;
import plaid.v1.CancelSweepRequest;
import plaid.v1.GetSweepRequest;
import plaid.v1.ListSweepsRequest;
import plaid.v1.MedianStopping;
import plaid.v1.SubmitSweepRequest;
import plaid.v1.Sweep;
import plaid.v1.SweepParameter;
import plaid.v1.SweepState;
import plaid.v1.SweepStrategy;
import plaid.v1.SweepTrial;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;
import plaid.v1.TrialState;

@Command(
        name = "sweep",
        mixinStandardHelpOptions = true,
        description = {
            "Hyperparameter sweeps on trainer-svc: each trial is a training job.",
            "`plaid sweep --lr=log:1e-4:3e-3 --weight_decay=grid:0,4e-5,1e-4 --trials=4 [train.py flags]` submits a sweep and follows it "
                    + "to a table of trials by validation NLL and the best trial's `plaid train` line.",
            "A dimension is grid:A,B,C, log:MIN:MAX or uniform:MIN:MAX; the other flags are train.py's, fixed for every trial."
        },
        subcommands = {SweepCommand.ListSweeps.class, SweepCommand.Show.class, SweepCommand.Cancel.class})
final class SweepCommand implements Callable<Integer> {
    private static final long POLL_MILLIS = 1000;

    @Mixin
    Services services;

    @Option(
            names = "--space",
            description =
                    "a YAML or JSON file: parameters (option: list or grid:/log:/uniform:), strategy, trials, max_concurrent")
    Path spaceFile;

    @Option(
            names = "--strategy",
            description = "grid or random (default: grid when every dimension is a grid and --trials is not given)")
    String strategy;

    @Option(names = "--trials", description = "trials of a random search; the first this many combinations of a grid")
    Integer trials;

    @Option(names = "--max-concurrent", description = "trials running at once (default: 1)")
    Integer maxConcurrent;

    @Option(
            names = "--early-stop",
            description =
                    "stop a trial whose validation NLL at a hook step is above the median of the completed trials'")
    boolean earlyStop;

    @Option(
            names = "--early-stop-min-trials",
            defaultValue = "2",
            description = "completed trials the median rule needs (default: ${DEFAULT-VALUE})")
    int earlyStopMinTrials;

    @Option(names = "--corpus", description = "as for plaid train")
    String corpus;

    @Option(names = "--seed", defaultValue = "0", description = "every trial's run seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(
            names = "--sweep-seed",
            defaultValue = "0",
            description = "seed of a random search's draws (default: ${DEFAULT-VALUE})")
    long sweepSeed;

    @Option(names = "--name", defaultValue = "", description = "the sweep's name; trials are named '<name> trial <i>'")
    String name;

    @Option(names = "--detach", description = "print the sweep's id and return instead of following it")
    boolean detach;

    @Unmatched
    List<String> flags = new ArrayList<>();

    @Override
    public Integer call() {
        SubmitSweepRequest request = request();
        Sweep sweep = TrainCommand.withTrainer(services, t -> t.submitSweep(request));
        System.out.println("sweep " + sweep.getId() + ": " + sweep.getTrialsCount() + " trials");
        if (detach) return 0;
        return report(follow(services, sweep.getId()));
    }

    /** The request the command line asks for; a mistake is an IllegalArgumentException (exit 2) before any service is asked. */
    SubmitSweepRequest request() {
        SweepSpaceArgs space = SweepSpaceArgs.parse(flags, spaceFile);
        if (space.parameters().isEmpty())
            throw new IllegalArgumentException(
                    "give at least one dimension, e.g. --lr=log:1e-4:3e-3 or --weight_decay=grid:0,4e-5 (or --space FILE)");
        if (!(TrainCommand.run(corpus, seed, space.fixedFlags()) instanceof TrainCommand.Training training))
            throw new IllegalArgumentException("a sweep trains: --steps=0 (evaluation only) cannot be swept");
        // Each value through plaid train's own parsing and checks: an unknown option or a value it refuses is named
        // here.
        for (SweepParameter p : space.parameters()) {
            List<String> samples = p.hasGrid()
                    ? p.getGrid().getValuesList()
                    : List.of(
                            Double.toString(p.getRange().getMin()),
                            Double.toString(p.getRange().getMax()));
            for (String sample : samples) {
                List<String> trial = new ArrayList<>(space.fixedFlags());
                trial.add("--" + p.getName() + "="
                        + (p.hasRange() && isIntegerOption(p.getName())
                                ? Long.toString(Math.round(Double.parseDouble(sample)))
                                : sample));
                TrainCommand.run(corpus, seed, trial);
            }
        }
        String strategyName = strategy != null ? strategy : space.settings().get("strategy");
        Integer trialCount = trials != null
                ? trials
                : space.settings().containsKey("trials")
                        ? integer("trials", space.settings().get("trials"))
                        : null;
        boolean allGrid = space.parameters().stream().allMatch(SweepParameter::hasGrid);
        SweepStrategy chosen = switch (strategyName == null
                ? (allGrid && trialCount == null ? "grid" : "random")
                : strategyName.toLowerCase(Locale.ROOT)) {
            case "grid" -> SweepStrategy.SWEEP_STRATEGY_GRID;
            case "random" -> SweepStrategy.SWEEP_STRATEGY_RANDOM;
            default -> throw new IllegalArgumentException("--strategy must be grid or random, got " + strategyName);
        };
        if (chosen == SweepStrategy.SWEEP_STRATEGY_GRID && !allGrid)
            throw new IllegalArgumentException(
                    "--strategy=grid takes grid: dimensions only; a log:/uniform: range needs --strategy=random");
        if (chosen == SweepStrategy.SWEEP_STRATEGY_RANDOM && trialCount == null)
            throw new IllegalArgumentException("--trials is needed for a random search");
        if (trialCount != null && trialCount < 1)
            throw new IllegalArgumentException("--trials must be at least 1, got " + trialCount);
        int concurrent = maxConcurrent != null
                ? maxConcurrent
                : space.settings().containsKey("max_concurrent")
                        ? integer("max_concurrent", space.settings().get("max_concurrent"))
                        : 1;
        if (concurrent < 1)
            throw new IllegalArgumentException("--max-concurrent must be at least 1, got " + concurrent);
        if (earlyStopMinTrials < 1)
            throw new IllegalArgumentException("--early-stop-min-trials must be at least 1, got " + earlyStopMinTrials);
        return SubmitSweepRequest.newBuilder()
                .setBase(training.spec())
                .addAllParameters(space.parameters())
                .setStrategy(chosen)
                .setTrials(trialCount == null ? 0 : trialCount)
                .setMaxConcurrent(concurrent)
                .setSeed(sweepSeed)
                .setEarlyStopping(
                        MedianStopping.newBuilder().setEnabled(earlyStop).setMinCompletedTrials(earlyStopMinTrials))
                .setDisplayName(name)
                .setRequestId(java.util.UUID.randomUUID().toString())
                .build();
    }

    private static boolean isIntegerOption(String name) {
        return field(name) != null && field(name).getJavaType() == FieldDescriptor.JavaType.INT;
    }

    /** The spec field a train.py option name sets, or null. */
    private static FieldDescriptor field(String name) {
        for (FieldDescriptor section : TrainingSpec.getDescriptor().getFields()) {
            if (section.getType() != FieldDescriptor.Type.MESSAGE) continue;
            for (FieldDescriptor f : section.getMessageType().getFields()) if (SpecOptions.names(f, name)) return f;
        }
        return null;
    }

    private static int integer(String key, String text) {
        try {
            return Integer.parseInt(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--space: " + key + " must be an integer, got '" + text + "'");
        }
    }

    /** Polls the sweep until it ends, printing each trial as it ends. */
    static Sweep follow(Services services, String sweepId) {
        Map<Integer, TrialState> seen = new HashMap<>();
        try (Services.Connection connection = services.trainer()) {
            return follow(TrainerServiceGrpc.newBlockingStub(connection.channel()), sweepId, seen);
        }
    }

    private static Sweep follow(
            TrainerServiceGrpc.TrainerServiceBlockingStub trainer, String sweepId, Map<Integer, TrialState> seen) {
        while (true) {
            Sweep sweep = trainer.getSweep(
                    GetSweepRequest.newBuilder().setSweepId(sweepId).build());
            for (SweepTrial trial : sweep.getTrialsList()) {
                if (seen.put(trial.getIndex(), trial.getState()) == trial.getState()) continue;
                if (trial.getState() == TrialState.TRIAL_STATE_PENDING) continue;
                System.out.printf(
                        "trial %d %s%s  %s%s%n",
                        trial.getIndex(),
                        state(trial.getState()),
                        trial.hasValidationNll()
                                ? String.format(
                                        Locale.ROOT,
                                        " (validation NLL %.4f at step %d)",
                                        trial.getValidationNll(),
                                        trial.getValidationStep())
                                : "",
                        values(trial),
                        trial.getReason().isEmpty() ? "" : ": " + trial.getReason());
            }
            if (sweep.getState() != SweepState.SWEEP_STATE_RUNNING) return sweep;
            try {
                Thread.sleep(POLL_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return sweep;
            }
        }
    }

    /** Prints the table and the best trial's command line; 0 when a trial succeeded. */
    static int report(Sweep sweep) {
        System.out.print(table(sweep));
        if (sweep.getBestTrial() < 0) {
            System.out.println("no trial succeeded");
            return PlaidCommand.EXIT_JOB_FAILED;
        }
        System.out.println("best: trial " + sweep.getBestTrial());
        System.out.println(commandLine(sweep.getRequest().getBase(), sweep.getTrials(sweep.getBestTrial())));
        return 0;
    }

    /** The trials, succeeded ones first, each group by validation NLL (lowest first). */
    static String table(Sweep sweep) {
        List<String> names = sweep.getRequest().getParametersList().stream()
                .map(SweepParameter::getName)
                .toList();
        StringBuilder out = new StringBuilder(String.format("sweep %s %s%n", sweep.getId(), state(sweep.getState())));
        StringBuilder header =
                new StringBuilder(String.format("%-6s %-14s %10s %6s", "TRIAL", "STATE", "VAL_NLL", "STEP"));
        names.forEach(n -> header.append(String.format(" %12s", n)));
        out.append(header).append("  JOB\n");
        List<SweepTrial> ordered = new ArrayList<>(sweep.getTrialsList());
        ordered.sort(Comparator.comparing((SweepTrial t) -> t.getState() != TrialState.TRIAL_STATE_SUCCEEDED)
                .thenComparingDouble(t -> t.hasValidationNll() ? t.getValidationNll() : Double.POSITIVE_INFINITY)
                .thenComparingInt(SweepTrial::getIndex));
        for (SweepTrial t : ordered) {
            out.append(String.format(
                    Locale.ROOT,
                    "%-6d %-14s %10s %6s",
                    t.getIndex(),
                    state(t.getState()),
                    t.hasValidationNll() ? String.format(Locale.ROOT, "%.4f", t.getValidationNll()) : "-",
                    t.hasValidationNll() ? t.getValidationStep() : "-"));
            names.forEach(n -> out.append(String.format(" %12s", t.getParametersOrDefault(n, ""))));
            out.append("  ").append(t.getJobId().isEmpty() ? "-" : t.getJobId()).append('\n');
        }
        return out.toString();
    }

    /** `./plaid train ...` that trains the trial alone: the base spec's set options, then the trial's values. */
    static String commandLine(TrainingSpec base, SweepTrial trial) {
        StringBuilder line = new StringBuilder("./plaid train --corpus=" + base.getCorpus());
        if (base.getSeed() != 0) line.append(" --seed=").append(base.getSeed());
        if (base.hasWeightsFrom()) line.append(" --weights_path=").append(base.getWeightsFrom());
        for (Message section : List.of(base.getShape(), base.getOptimization(), base.getReporting())) {
            section.getAllFields().forEach((field, value) -> {
                String option = SpecOptions.optionOf(field).map(o -> o.name()).orElse(field.getName());
                if (trial.containsParameters(option) || trial.containsParameters(field.getName())) return;
                line.append(" --")
                        .append(option)
                        .append('=')
                        .append(value instanceof Boolean b ? (b ? "True" : "False") : value);
            });
        }
        trial.getParametersMap()
                .forEach((option, value) ->
                        line.append(" --").append(option).append('=').append(value));
        return line.toString();
    }

    private static String values(SweepTrial trial) {
        return String.join(
                " ",
                trial.getParametersMap().entrySet().stream()
                        .map(e -> e.getKey() + "=" + e.getValue())
                        .toList());
    }

    private static String state(Enum<?> state) {
        return state.name().replaceFirst("^(SWEEP|TRIAL)_STATE_", "").toLowerCase(Locale.ROOT);
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List sweeps.")
    static final class ListSweeps implements Callable<Integer> {
        @Mixin
        Services services;

        @Override
        public Integer call() {
            var sweeps = TrainCommand.withTrainer(
                    services,
                    t -> t.listSweeps(
                            ListSweepsRequest.newBuilder().setPageSize(100).build()));
            System.out.printf("%-36s %-10s %7s %6s  %s%n", "SWEEP", "STATE", "TRIALS", "BEST", "NAME");
            for (Sweep s : sweeps.getSweepsList()) {
                long ended = s.getTrialsList().stream()
                        .filter(t -> t.getState() != TrialState.TRIAL_STATE_PENDING
                                && t.getState() != TrialState.TRIAL_STATE_RUNNING)
                        .count();
                System.out.printf(
                        "%-36s %-10s %7s %6s  %s%n",
                        s.getId(),
                        state(s.getState()),
                        ended + "/" + s.getTrialsCount(),
                        s.getBestTrial() < 0 ? "-" : s.getBestTrial(),
                        s.getDisplayName());
            }
            return 0;
        }
    }

    @Command(
            name = "show",
            mixinStandardHelpOptions = true,
            description = "A sweep's trials by validation NLL and the best trial's command line.")
    static final class Show implements Callable<Integer> {
        @Mixin
        Services services;

        @Parameters(paramLabel = "SWEEP")
        String sweepId;

        @Option(names = "--wait", description = "follow the sweep until it ends first")
        boolean waitForEnd;

        @Override
        public Integer call() {
            Sweep sweep = waitForEnd
                    ? follow(services, sweepId)
                    : TrainCommand.withTrainer(
                            services,
                            t -> t.getSweep(GetSweepRequest.newBuilder()
                                    .setSweepId(sweepId)
                                    .build()));
            return report(sweep);
        }
    }

    @Command(
            name = "cancel",
            mixinStandardHelpOptions = true,
            description = "Cancel a sweep: its pending trials and its running trials' jobs.")
    static final class Cancel implements Callable<Integer> {
        @Mixin
        Services services;

        @Parameters(paramLabel = "SWEEP")
        String sweepId;

        @Override
        public Integer call() {
            Sweep sweep = TrainCommand.withTrainer(
                    services,
                    t -> t.cancelSweep(
                            CancelSweepRequest.newBuilder().setSweepId(sweepId).build()));
            System.out.println(sweep.getId() + " " + state(sweep.getState()));
            return 0;
        }
    }
}

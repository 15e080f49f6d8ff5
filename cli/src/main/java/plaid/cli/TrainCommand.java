package plaid.cli;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Unmatched;
import plaid.v1.CancelJobRequest;
import plaid.v1.Job;
import plaid.v1.JobState;
import plaid.v1.ListJobsRequest;
import plaid.v1.ModelShape;
import plaid.v1.Optimization;
import plaid.v1.Reporting;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;

@Command(name = "train", mixinStandardHelpOptions = true, description = "Training jobs on trainer-svc.",
        subcommands = {TrainCommand.Submit.class, TrainCommand.Watch.class, TrainCommand.Cancel.class, TrainCommand.ListJobs.class})
final class TrainCommand {
    /** Exit code when a job succeeded but its validation NLL is above the threshold given. */
    static final int EXIT_NLL_ABOVE_THRESHOLD = 5;

    /** Runs {@code body} with a trainer stub, closing the channel afterwards. */
    static <T> T withTrainer(Services services, java.util.function.Function<TrainerServiceGrpc.TrainerServiceBlockingStub, T> body) {
        try (Services.Connection trainer = services.trainer()) {
            return body.apply(TrainerServiceGrpc.newBlockingStub(trainer.channel()));
        }
    }

    /** The exit code for a finished job: failed, above the NLL threshold, or fine. */
    static int verdict(Job job, Double maxValNll) {
        System.out.println("job " + job.getId() + " " + job.getState().name().replace("JOB_STATE_", "").toLowerCase(Locale.ROOT)
                + (job.hasLatestValidation() ? String.format(", validation NLL %.4f", job.getLatestValidation().getNll()) : "")
                + (job.getFailure().isEmpty() ? "" : ": " + job.getFailure()));
        // what `plaid sample --checkpoint` and `plaid eval --checkpoint` take
        if (job.getCheckpointsCount() > 0) System.out.println("checkpoint " + job.getCheckpoints(job.getCheckpointsCount() - 1).getPath());
        if (job.getState() != JobState.JOB_STATE_SUCCEEDED) return PlaidCommand.EXIT_JOB_FAILED;
        if (maxValNll != null) {
            if (!job.hasLatestValidation()) {
                System.err.println("plaid: the job reported no validation NLL to compare with " + maxValNll);
                return EXIT_NLL_ABOVE_THRESHOLD;
            }
            if (job.getLatestValidation().getNll() > maxValNll) {
                System.err.printf("plaid: validation NLL %.4f is above the threshold %.4f%n", job.getLatestValidation().getNll(), maxValNll);
                return EXIT_NLL_ABOVE_THRESHOLD;
            }
        }
        return 0;
    }

    @Command(name = "submit", mixinStandardHelpOptions = true,
            description = "Submit a training job. Any train.py option is accepted as the original writes it, e.g. --batch_size=64 --lr=1e-3.")
    static final class Submit implements Callable<Integer> {
        @Mixin
        Services services;

        @Option(names = "--corpus", required = true, description = "a corpus of the services ('demo' is built in)")
        String corpus;

        @Option(names = "--seed", defaultValue = "0", description = "run seed (default: ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--name", defaultValue = "", description = "display name")
        String name;

        @Option(names = "--wait", description = "follow the job until it ends; the exit code says how it ended")
        boolean waitForEnd;

        @Option(names = "--max-val-nll", description = "with --wait: exit with 5 when the final validation NLL is above this")
        Double maxValNll;

        @Unmatched
        List<String> originalFlags = new ArrayList<>();

        @Override
        public Integer call() {
            TrainingSpec spec = spec(corpus, seed, originalFlags);
            Job job = withTrainer(services, t -> t.submitJob(SubmitJobRequest.newBuilder().setSpec(spec).setDisplayName(name).build()));
            System.out.println(job.getId());
            if (!waitForEnd) return 0;
            return verdict(withTrainer(services, t -> JobWatcher.watch(t, job.getId(), System.out)), maxValNll);
        }
    }

    /**
     * A spec from train.py-style flags ({@code --name=value} or {@code --name value}): each
     * name is looked up among the fields of the shape, optimisation and reporting messages.
     */
    static TrainingSpec spec(String corpus, long seed, List<String> flags) {
        ModelShape.Builder shape = ModelShape.newBuilder();
        Optimization.Builder optimization = Optimization.newBuilder();
        Reporting.Builder reporting = Reporting.newBuilder();
        List<Message.Builder> sections = List.of(shape, optimization, reporting);
        for (int i = 0; i < flags.size(); i++) {
            String flag = flags.get(i);
            if (!flag.startsWith("--")) throw new IllegalArgumentException("unexpected argument '" + flag + "'");
            String nameValue = flag.substring(2);
            String name, value;
            if (nameValue.contains("=")) {
                name = nameValue.substring(0, nameValue.indexOf('='));
                value = nameValue.substring(nameValue.indexOf('=') + 1);
            } else if (i + 1 < flags.size()) {
                name = nameValue;
                value = flags.get(++i);
            } else {
                throw new IllegalArgumentException("option --" + nameValue + " needs a value");
            }
            setOption(sections, name, value);
        }
        return TrainingSpec.newBuilder().setCorpus(corpus).setSeed(seed).setShape(shape).setOptimization(optimization).setReporting(reporting).build();
    }

    private static void setOption(List<Message.Builder> sections, String name, String value) {
        String field = name.equals("beta1") ? "beta_1" : name.equals("beta2") ? "beta_2" : name.equals("selfcond") ? "self_conditioning" : name;
        for (Message.Builder section : sections) {
            FieldDescriptor f = section.getDescriptorForType().findFieldByName(field);
            if (f == null) continue;
            try {
                section.setField(f, switch (f.getJavaType()) {
                    case INT -> Integer.parseInt(value);
                    case LONG -> Long.parseLong(value);
                    case DOUBLE -> Double.parseDouble(value);
                    case BOOLEAN -> parseBoolean(name, value);
                    case STRING -> value;
                    default -> throw new IllegalArgumentException("option --" + name + " cannot be set from the command line");
                });
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("option --" + name + ": '" + value + "' is not a valid " + f.getJavaType().name().toLowerCase(Locale.ROOT));
            }
            return;
        }
        throw new IllegalArgumentException("unknown option --" + name);
    }

    private static boolean parseBoolean(String name, String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "true", "1" -> true;
            case "false", "0" -> false;
            default -> throw new IllegalArgumentException("option --" + name + ": '" + value + "' is not True or False");
        };
    }

    @Command(name = "watch", mixinStandardHelpOptions = true, description = "Follow a job until it ends; the exit code says how it ended.")
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
            Job job = withTrainer(services, t -> t.cancelJob(CancelJobRequest.newBuilder().setJobId(jobId).build()));
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
            var jobs = withTrainer(services, t -> t.listJobs(ListJobsRequest.newBuilder().setPageSize(100).build()));
            System.out.printf("%-24s %-12s %10s  %s%n", "JOB", "STATE", "STEP", "NAME");
            for (Job j : jobs.getJobsList()) {
                System.out.printf("%-24s %-12s %10s  %s%n", j.getId(), j.getState().name().replace("JOB_STATE_", ""),
                        j.getStep() + "/" + j.getTotalSteps(), j.getDisplayName());
            }
            return 0;
        }
    }
}

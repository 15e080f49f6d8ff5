package plaid.cli;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import plaid.options.OptionGroup;
import plaid.options.OptionTable;

/** The {@code plaid} command: a gRPC client of the three services, and the local demo. */
@Command(
        name = "plaid",
        mixinStandardHelpOptions = true,
        version = "plaid 0.1.0",
        description = {
            "Train, sample from and score Plaid diffusion language models through the plaid services.",
            "Workflow: plaid up; plaid data prepare openwebtext2 --from DIR; plaid train --batch_size=...;"
                    + " plaid eval; plaid sample; plaid sweep; plaid down."
        },
        subcommands = {
            UpCommand.class,
            StatusCommand.class,
            DownCommand.class,
            DataCommand.class,
            DemoCommand.class,
            TrainCommand.class,
            SweepCommand.class,
            SampleCommand.class,
            ScoreCommand.class,
            EvalCommand.class,
            TokenizeCommand.class,
            UnloadCommand.class,
            CommandLine.HelpCommand.class
        })
public final class PlaidCommand implements Runnable {
    /** Exit codes a CI job can tell apart. */
    static final int EXIT_USAGE = 2;

    static final int EXIT_SERVICE = 3;
    static final int EXIT_JOB_FAILED = 4;

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new PlaidCommand());
        cl.setExecutionExceptionHandler(PlaidCommand::report);
        String trainFlags = OriginalFlags.help(
                "train.py's flags",
                List.of(OptionGroup.SHAPE, OptionGroup.OPTIMIZATION, OptionGroup.REPORTING),
                List.of(OptionTable.DATASET, OptionTable.WEIGHTS_PATH));
        cl.getSubcommands().get("train").getCommandSpec().usageMessage().footer(trainFlags);
        cl.getSubcommands()
                .get("train")
                .getSubcommands()
                .get("submit")
                .getCommandSpec()
                .usageMessage()
                .footer(trainFlags);
        cl.getSubcommands()
                .get("sample")
                .getCommandSpec()
                .usageMessage()
                .footer(OriginalFlags.help(
                        "sample.py's flags",
                        List.of(OptionGroup.SHAPE, OptionGroup.SAMPLING),
                        List.of(OptionTable.WEIGHTS_PATH)));
        return cl;
    }

    /** Errors as one message and an exit code, not a stack trace. */
    private static int report(Exception e, CommandLine cl, CommandLine.ParseResult parsed) {
        PrintWriter err = cl.getErr();
        if (e instanceof StatusRuntimeException s) {
            Status status = s.getStatus();
            String what = status.getCode() == Status.Code.UNAVAILABLE
                    ? "service unavailable (is it running? start all three with `plaid up`, or give its address): "
                            + status.getDescription()
                    : status.getCode() + ": " + status.getDescription();
            err.println(cl.getColorScheme().errorText("plaid: " + what));
            return status.getCode() == Status.Code.INVALID_ARGUMENT ? EXIT_USAGE : EXIT_SERVICE;
        }
        err.println(
                cl.getColorScheme().errorText("plaid: " + (e.getMessage() != null ? e.getMessage() : e.toString())));
        return e instanceof IllegalArgumentException ? EXIT_USAGE : EXIT_SERVICE;
    }
}

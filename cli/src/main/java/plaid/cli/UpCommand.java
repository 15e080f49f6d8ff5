package plaid.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code plaid up}: the three services as {@code plaid demo} runs them, left running in the
 * background once each answers its health check, with a state file ({@link StackState}) by
 * which the other commands find them and {@code plaid down} stops them.
 */
@Command(
        name = "up",
        mixinStandardHelpOptions = true,
        description = {
            "Start data-svc, trainer-svc and sampler-svc locally in the background (on the CPU, as plaid demo runs them).",
            "Other commands then use them without addresses; stop them with plaid down."
        })
final class UpCommand implements Callable<Integer> {
    @Option(
            names = "--work-dir",
            defaultValue = "${env:PLAID_WORK_DIR:-" + StackState.DEFAULT_WORK_DIR + "}",
            description = "where the services keep corpora, runs, logs and the state file (env PLAID_WORK_DIR;"
                    + " default: ${DEFAULT-VALUE})")
    Path workDir;

    @Option(
            names = "--base-port",
            defaultValue = "9101",
            description = "data-svc's port; the trainer and sampler take the next two (default: ${DEFAULT-VALUE})")
    int basePort;

    @Override
    public Integer call() throws Exception {
        if (basePort < 1 || basePort > 65533)
            throw new IllegalArgumentException("--base-port must be in [1, 65533], got " + basePort);
        Path home = Path.of(System.getProperty("plaid.home", "."));
        Path work = StackState.workDir(workDir);
        var existing = StackState.read(work);
        if (existing.isPresent()) {
            List<StackState.ServiceProcess> running = existing.get().running();
            if (running.size() == existing.get().services().size()) {
                System.out.println("already up under " + work + ":");
                StatusCommand.print(existing.get(), System.out);
                return 0;
            }
            if (!running.isEmpty())
                throw new IllegalStateException("part of the stack under " + work + " still runs ("
                        + running.stream()
                                .map(StackState.ServiceProcess::module)
                                .toList()
                        + "): run plaid down first");
            existing.get().delete(); // ended without plaid down (a reboot, kill -9): nothing of it runs
        }
        var services = LocalStack.CpuServices.under(work, basePort, basePort + 1, basePort + 2, List.of());
        System.out.println("starting data-svc, trainer-svc and sampler-svc on 127.0.0.1:" + basePort + "-"
                + (basePort + 2) + " (logs in " + work.resolve("logs") + ")");
        Map<LocalStack.Service, ProcessHandle> started;
        try (LocalStack stack = LocalStack.start(home, work, services.all())) {
            started = stack.detach();
        }
        List<StackState.ServiceProcess> processes = new ArrayList<>();
        started.forEach((s, p) -> processes.add(StackState.ServiceProcess.of(s.module(), s.address(), p)));
        StackState state = new StackState(
                work,
                LocalStack.CpuServices.dataRoot(work),
                LocalStack.CpuServices.trainerRoot(work),
                work.resolve("logs"),
                processes);
        state.write();
        StatusCommand.print(state, System.out);
        System.out.println("up; stop with: plaid down"
                + (workDir.equals(Path.of(StackState.DEFAULT_WORK_DIR)) ? "" : " --work-dir " + workDir));
        return 0;
    }
}

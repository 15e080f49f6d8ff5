package plaid.trainer.cluster;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.UUID;
import plaid.v1.ClusterRendezvousGrpc;
import plaid.v1.ClusterRendezvousGrpc.ClusterRendezvousBlockingStub;
import plaid.v1.JoinRequest;
import plaid.v1.JoinResponse;

/**
 * A worker process of a multi-machine job, one per machine: joins the job at its coordinator
 * (trainer-svc with {@code trainer-svc.cluster.workers} set), runs its ranks with a
 * {@link RankRunner}, heartbeats, and joins again when the coordinator restarts the job.
 *
 * <pre>java -cp … plaid.trainer.cluster.Worker --coordinator HOST:PORT --job ID --runner NAME
 *     [--devices N] [--node-index I] [--root DIR] [--connect-timeout 5m] [--host NAME]</pre>
 *
 * Each flag may come from the environment instead (an indexed Job sets JOB_COMPLETION_INDEX):
 * PLAID_COORDINATOR, PLAID_JOB_ID, PLAID_RUNNER, PLAID_DEVICES, JOB_COMPLETION_INDEX,
 * PLAID_RUN_ROOT, PLAID_CONNECT_TIMEOUT, PLAID_AUTH_TOKEN (sent as a bearer token).
 *
 * <p>Exit status: 0 the job succeeded; 3 it ended otherwise (failed, cancelled, unknown: the
 * job's record says why); 2 bad arguments; 1 the coordinator could not be reached.
 */
public final class Worker {
    static final int SUCCEEDED = 0, UNREACHABLE = 1, USAGE = 2, JOB_ENDED = 3;
    private static final long RETRY_MILLIS = 1000;

    /** The worker's settings, from flags or the environment. */
    record Options(
            String coordinator,
            String jobId,
            String runner,
            int devices,
            Integer nodeIndex,
            Path root,
            Duration connectTimeout,
            String host) {}

    /** Bad flags: the message names the flag. */
    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    private final Options options;
    private final RankRunner runner;
    private final ClusterRendezvousBlockingStub rendezvous;
    /** This process's token in its joins (JoinRequest.incarnation). */
    private final String incarnation = UUID.randomUUID().toString();

    Worker(Options options, RankRunner runner, ClusterRendezvousBlockingStub rendezvous) {
        this.options = options;
        this.runner = runner;
        this.rendezvous = rendezvous;
    }

    public static void main(String[] args) {
        Options options;
        RankRunner runner;
        try {
            options = parse(args, System.getenv());
            runner = runner(options.runner());
        } catch (UsageException e) {
            System.err.println("worker: " + e.getMessage());
            System.err.println("usage: Worker --coordinator HOST:PORT --job ID --runner NAME [--devices N]"
                    + " [--node-index I] [--root DIR] [--connect-timeout 5m] [--host NAME]");
            System.exit(USAGE);
            return;
        }
        ManagedChannel channel = channel(options.coordinator(), System.getenv("PLAID_AUTH_TOKEN"));
        int status;
        try {
            status = new Worker(options, runner, ClusterRendezvousGrpc.newBlockingStub(channel)).run();
        } finally {
            channel.shutdownNow();
        }
        System.exit(status);
    }

    /** Joins and runs attempts until the job ends; returns the exit status. */
    int run() {
        while (true) {
            JoinResponse assignment;
            try {
                assignment = join();
            } catch (StatusRuntimeException e) {
                Status.Code code = e.getStatus().getCode();
                log("cannot join job %s: %s", options.jobId(), describe(e.getStatus()));
                if (code == Status.Code.INVALID_ARGUMENT) return USAGE;
                if (code == Status.Code.UNAVAILABLE || code == Status.Code.DEADLINE_EXCEEDED) return UNREACHABLE;
                return JOB_ENDED;
            }
            WorkerAttempt.Result result = new WorkerAttempt(this, assignment).run(runner);
            switch (result) {
                case SUCCEEDED -> {
                    log("job %s: done", options.jobId());
                    return SUCCEEDED;
                }
                case END -> {
                    return JOB_ENDED;
                }
                case REJOIN -> log("joining job %s again", options.jobId());
            }
        }
    }

    /** Join, again while the coordinator is unreachable (starting, restarting) for up to the connect timeout. */
    private JoinResponse join() {
        long deadline = System.nanoTime() + options.connectTimeout().toNanos();
        JoinRequest.Builder request = JoinRequest.newBuilder()
                .setJobId(options.jobId())
                .setDevices(options.devices())
                .setHost(options.host());
        if (options.nodeIndex() != null) request.setNodeIndex(options.nodeIndex());
        // the same token in every join of this process: a retried join is not read as a new process
        request.setIncarnation(incarnation);
        while (true) {
            try {
                return rendezvous.join(request.build());
            } catch (StatusRuntimeException e) {
                Status.Code code = e.getStatus().getCode();
                boolean transient_ = code == Status.Code.UNAVAILABLE
                        || code == Status.Code.ABORTED
                        || droppedConnection(e.getStatus());
                if (!transient_ || System.nanoTime() - deadline > 0) throw e;
                sleep(RETRY_MILLIS);
            }
        }
    }

    /**
     * A connection the transport closed under the call (GOAWAY, reset): gRPC answers INTERNAL, though no
     * server code ran or answered. A join again is what the worker does after any lost attempt anyway.
     */
    private static boolean droppedConnection(Status status) {
        String description = status.getDescription();
        return status.getCode() == Status.Code.INTERNAL
                && description != null
                && (description.contains("GOAWAY") || description.contains("Connection closed"));
    }

    ClusterRendezvousBlockingStub rendezvous() {
        return rendezvous;
    }

    Options options() {
        return options;
    }

    void log(String format, Object... args) {
        String who = options.nodeIndex() == null ? options.host() : "node " + options.nodeIndex();
        System.out.println("worker (" + who + "): " + format.formatted(args));
        System.out.flush();
    }

    static Options parse(String[] args, Map<String, String> env) throws UsageException {
        Map<String, String> flags = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            List<String> known = List.of(
                    "--coordinator",
                    "--job",
                    "--runner",
                    "--devices",
                    "--node-index",
                    "--root",
                    "--connect-timeout",
                    "--host");
            if (!known.contains(flag)) throw new UsageException("unknown flag " + flag);
            if (i + 1 == args.length) throw new UsageException(flag + " needs a value");
            flags.put(flag, args[++i]);
        }
        String coordinator = value(flags, env, "--coordinator", "PLAID_COORDINATOR", null);
        String job = value(flags, env, "--job", "PLAID_JOB_ID", null);
        String runnerName = value(flags, env, "--runner", "PLAID_RUNNER", null);
        int devices = integer(value(flags, env, "--devices", "PLAID_DEVICES", "1"), "--devices");
        if (devices < 1) throw new UsageException("--devices must be at least 1, got " + devices);
        String index = value(flags, env, "--node-index", "JOB_COMPLETION_INDEX", "");
        Integer nodeIndex = index.isEmpty() ? null : integer(index, "--node-index");
        if (nodeIndex != null && nodeIndex < 0)
            throw new UsageException("--node-index must not be negative, got " + nodeIndex);
        Duration connect;
        try {
            connect = Duration.parse("PT"
                    + value(flags, env, "--connect-timeout", "PLAID_CONNECT_TIMEOUT", "5m")
                            .toUpperCase());
        } catch (RuntimeException e) {
            throw new UsageException("--connect-timeout must be a duration such as 90s or 5m");
        }
        return new Options(
                coordinator,
                job,
                runnerName,
                devices,
                nodeIndex,
                Path.of(value(flags, env, "--root", "PLAID_RUN_ROOT", "./runs/trainer")),
                connect,
                value(flags, env, "--host", "HOSTNAME", localHost()));
    }

    /** The installed runner with this name; the message lists the installed ones. */
    static RankRunner runner(String name) throws UsageException {
        List<RankRunner> installed = ServiceLoader.load(RankRunner.class).stream()
                .map(ServiceLoader.Provider::get)
                .toList();
        return installed.stream()
                .filter(r -> r.name().equals(name))
                .findFirst()
                .orElseThrow(() -> new UsageException("--runner '" + name + "' is not installed; installed: "
                        + installed.stream().map(RankRunner::name).toList()));
    }

    /**
     * gRPC's own retries for the calls a repeat cannot harm, on the transport failures a connection
     * can throw at a stream before the coordinator saw it (a GOAWAY answers INTERNAL). Join is left
     * out (a second join of a node reads as a new pod), and Report (it records checkpoints).
     */
    private static Map<String, Object> retryPolicy() {
        List<Map<String, Object>> names = List.of("PublishUniqueId", "AwaitUniqueId", "Heartbeat", "Leave").stream()
                .map(m -> Map.<String, Object>of("service", "plaid.v1.ClusterRendezvous", "method", m))
                .toList();
        Map<String, Object> policy = Map.of(
                "maxAttempts",
                4.0,
                "initialBackoff",
                "0.2s",
                "maxBackoff",
                "2s",
                "backoffMultiplier",
                2.0,
                "retryableStatusCodes",
                List.of("UNAVAILABLE", "INTERNAL"));
        return Map.of("methodConfig", List.of(Map.of("name", names, "retryPolicy", policy)));
    }

    private static ManagedChannel channel(String target, String token) {
        ManagedChannelBuilder<?> builder = ManagedChannelBuilder.forTarget(target)
                .usePlaintext()
                .defaultServiceConfig(retryPolicy())
                .enableRetry();
        if (token != null && !token.isEmpty()) {
            Metadata headers = new Metadata();
            headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
            builder.intercept(MetadataUtils.newAttachHeadersInterceptor(headers));
        }
        return builder.build();
    }

    private static String value(
            Map<String, String> flags, Map<String, String> env, String flag, String variable, String fallback)
            throws UsageException {
        String value = flags.getOrDefault(flag, env.get(variable));
        if (value == null || value.isBlank()) value = fallback;
        if (value == null) throw new UsageException(flag + " (or " + variable + ") must be set");
        return value;
    }

    private static int integer(String text, String flag) throws UsageException {
        try {
            return Integer.parseInt(text.strip());
        } catch (NumberFormatException e) {
            throw new UsageException(flag + " must be an integer, got '" + text + "'");
        }
    }

    private static String localHost() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }

    /** A status for a log line: code and description, without the cause's stack trace. */
    static String describe(Status status) {
        return status.getDescription() == null
                ? status.getCode().name()
                : status.getCode() + ": " + status.getDescription();
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}

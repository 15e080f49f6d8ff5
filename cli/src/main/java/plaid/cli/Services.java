package plaid.cli;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Option;

/**
 * Where the three services listen: options every subcommand shares. An address not given (as an
 * option or in its environment variable) is that of the stack {@code plaid up} keeps running
 * under the work dir, else the port the service binds by default on loopback.
 */
final class Services {
    static final String DATA_SVC = "data-svc", TRAINER_SVC = "trainer-svc", SAMPLER_SVC = "sampler-svc";

    @Option(
            names = "--data",
            description = "data-svc address (env PLAID_DATA_SVC; default: the plaid up stack's, else 127.0.0.1:9101)")
    String data;

    @Option(
            names = "--trainer",
            description =
                    "trainer-svc address (env PLAID_TRAINER_SVC; default: the plaid up stack's, else 127.0.0.1:9102)")
    String trainer;

    @Option(
            names = "--sampler",
            description =
                    "sampler-svc address (env PLAID_SAMPLER_SVC; default: the plaid up stack's, else 127.0.0.1:9103)")
    String sampler;

    @Option(
            names = "--work-dir",
            defaultValue = "${env:PLAID_WORK_DIR:-" + StackState.DEFAULT_WORK_DIR + "}",
            description =
                    "the plaid up stack to use when no address is given (env PLAID_WORK_DIR; default: ${DEFAULT-VALUE})")
    Path workDir = Path.of(StackState.DEFAULT_WORK_DIR);

    @Option(
            names = "--token",
            defaultValue = "${env:PLAID_TOKEN}",
            description = "bearer token, when the services require one (env PLAID_TOKEN)")
    String token;

    private Optional<StackState> stack;

    Connection data() {
        return connect(dataAddress(), token);
    }

    Connection trainer() {
        return connect(address(trainer, "PLAID_TRAINER_SVC", TRAINER_SVC, 9102), token);
    }

    Connection sampler() {
        return connect(address(sampler, "PLAID_SAMPLER_SVC", SAMPLER_SVC, 9103), token);
    }

    String dataAddress() {
        return address(data, "PLAID_DATA_SVC", DATA_SVC, 9101);
    }

    /**
     * The running {@code plaid up} stack of the work dir, if there is one whose data-svc is the one
     * these options address: then its data root is a folder on this machine.
     */
    Optional<StackState> localStack() {
        return stack().filter(s -> s.service(DATA_SVC)
                .map(StackState.ServiceProcess::address)
                .filter(dataAddress()::equals)
                .isPresent());
    }

    private String address(String given, String environmentVariable, String module, int defaultPort) {
        if (given != null) return given;
        String fromEnvironment = System.getenv(environmentVariable);
        if (fromEnvironment != null && !fromEnvironment.isBlank()) return fromEnvironment;
        return stack().flatMap(s -> s.service(module))
                .map(StackState.ServiceProcess::address)
                .orElse("127.0.0.1:" + defaultPort);
    }

    /** The plaid up stack, read once; one whose services no longer run counts as none. */
    private Optional<StackState> stack() {
        if (stack == null)
            stack = StackState.read(StackState.workDir(workDir))
                    .filter(s -> !s.running().isEmpty());
        return stack;
    }

    /** A channel to one service that try-with-resources shuts down. */
    record Connection(ManagedChannel channel) implements AutoCloseable {
        @Override
        public void close() {
            channel.shutdown();
            try {
                if (!channel.awaitTermination(5, TimeUnit.SECONDS)) channel.shutdownNow();
            } catch (InterruptedException e) {
                channel.shutdownNow();
                Thread.currentThread().interrupt();
            }
        }
    }

    static Connection connect(String address, String token) {
        ManagedChannelBuilder<?> builder =
                ManagedChannelBuilder.forTarget(address).usePlaintext().maxInboundMessageSize(64 << 20);
        if (token != null && !token.isBlank()) {
            Metadata headers = new Metadata();
            headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
            builder.intercept(MetadataUtils.newAttachHeadersInterceptor(headers));
        }
        return new Connection(builder.build());
    }
}

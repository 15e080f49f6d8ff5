package plaid.cli;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Option;

/**
 * Where the three services listen: options every subcommand shares, with the ports the
 * services bind by default on loopback.
 */
final class Services {
    @Option(
            names = "--data",
            defaultValue = "${env:PLAID_DATA_SVC:-127.0.0.1:9101}",
            description = "data-svc address (default: ${DEFAULT-VALUE})")
    String data;

    @Option(
            names = "--trainer",
            defaultValue = "${env:PLAID_TRAINER_SVC:-127.0.0.1:9102}",
            description = "trainer-svc address (default: ${DEFAULT-VALUE})")
    String trainer;

    @Option(
            names = "--sampler",
            defaultValue = "${env:PLAID_SAMPLER_SVC:-127.0.0.1:9103}",
            description = "sampler-svc address (default: ${DEFAULT-VALUE})")
    String sampler;

    @Option(
            names = "--token",
            defaultValue = "${env:PLAID_TOKEN}",
            description = "bearer token, when the services require one (env PLAID_TOKEN)")
    String token;

    Connection data() {
        return connect(data, token);
    }

    Connection trainer() {
        return connect(trainer, token);
    }

    Connection sampler() {
        return connect(sampler, token);
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

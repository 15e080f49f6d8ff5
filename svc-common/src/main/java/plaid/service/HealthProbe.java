package plaid.service;

import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse.ServingStatus;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.TimeUnit;

/**
 * The container images' health check: asks the service's gRPC health service on loopback
 * whether it serves and exits 0 if so, 1 otherwise. A TCP probe would pass as soon as the port
 * opens; this one fails while the service reports NOT_SERVING.
 *
 * <p>Usage: {@code java -cp '/deployments/lib/main/*' plaid.service.HealthProbe [PORT [SERVICE]]};
 * the port defaults to the environment's {@code PORT}, the service to "" (the whole server).
 */
public final class HealthProbe {
    private static final long DEADLINE_SECONDS = 8;

    private HealthProbe() {}

    public static void main(String[] args) {
        String port = args.length > 0 ? args[0] : System.getenv("PORT");
        String service = args.length > 1 ? args[1] : "";
        if (port == null || !port.matches("\\d{1,5}")) {
            System.err.println("health probe: give the port as the first argument or as PORT, got " + port);
            System.exit(2);
        }
        ServingStatus status = check(Integer.parseInt(port), service);
        System.out.println("gRPC health of '" + service + "' on port " + port + ": " + status);
        System.exit(status == ServingStatus.SERVING ? 0 : 1);
    }

    /** The status the server reports, or UNKNOWN when it cannot be asked. */
    static ServingStatus check(int port, String service) {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port)
                .usePlaintext()
                .build();
        try {
            return HealthGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.newBuilder().setService(service).build())
                    .getStatus();
        } catch (StatusRuntimeException e) {
            System.err.println("health probe: " + e.getStatus());
            return ServingStatus.UNKNOWN;
        } finally {
            channel.shutdownNow();
        }
    }
}

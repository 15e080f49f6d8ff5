package plaid.service;

import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** The services' tests' gRPC client: plaintext channels to the service under test, and its health and reflection answers. */
public final class LoopbackChannels {
    private LoopbackChannels() {}

    /** A plaintext channel to the server at {@code server} (the test's {@code @TestHTTPResource("/")}). */
    public static ManagedChannel open(URI server) {
        return open(server.getHost(), server.getPort());
    }

    public static ManagedChannel open(String host, int port) {
        return ManagedChannelBuilder.forAddress(host, port).usePlaintext().build();
    }

    /** A plaintext channel whose calls carry {@code authorization: Bearer <token>}. */
    public static ManagedChannel openWithToken(URI server, String token) {
        Metadata headers = new Metadata();
        headers.put(BearerTokenInterceptor.AUTHORIZATION, "Bearer " + token);
        return ManagedChannelBuilder.forAddress(server.getHost(), server.getPort())
                .usePlaintext()
                .intercept(MetadataUtils.newAttachHeadersInterceptor(headers))
                .build();
    }

    public static HealthCheckResponse.ServingStatus health(Channel channel) {
        return HealthGrpc.newBlockingStub(channel)
                .check(HealthCheckRequest.getDefaultInstance())
                .getStatus();
    }

    /**
     * Waits until the service {@code process} runs answers its health check SERVING; fails, pointing
     * at {@code log}, if the process ends first or {@code patience} runs out.
     */
    public static void awaitServing(Channel channel, Process process, Duration patience, Path log)
            throws InterruptedException {
        long deadline = System.nanoTime() + patience.toNanos();
        while (true) {
            StatusRuntimeException refusal = null;
            try {
                if (health(channel) == HealthCheckResponse.ServingStatus.SERVING) return;
            } catch (StatusRuntimeException notYet) {
                refusal = notYet;
            }
            if (System.nanoTime() > deadline || !process.isAlive())
                throw new IllegalStateException("the service did not start; see " + log, refusal);
            Thread.sleep(200);
        }
    }

    /** The service names that server reflection lists; its error when reflection refuses. */
    public static List<String> reflectedServices(Channel channel)
            throws InterruptedException, ExecutionException, TimeoutException {
        CompletableFuture<ServerReflectionResponse> answer = new CompletableFuture<>();
        StreamObserver<ServerReflectionRequest> requests = ServerReflectionGrpc.newStub(channel)
                .serverReflectionInfo(new StreamObserver<>() {
                    @Override
                    public void onNext(ServerReflectionResponse response) {
                        answer.complete(response);
                    }

                    @Override
                    public void onError(Throwable error) {
                        answer.completeExceptionally(error);
                    }

                    @Override
                    public void onCompleted() {}
                });
        requests.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
        requests.onCompleted();
        return answer.get(10, TimeUnit.SECONDS).getListServicesResponse().getServiceList().stream()
                .map(ServiceResponse::getName)
                .toList();
    }
}

package plaid.trainer.cluster;

import static plaid.service.Replies.reply;

import com.google.protobuf.ByteString;
import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.util.concurrent.Callable;
import plaid.service.InvalidArgument;
import plaid.service.MalformedRequests;
import plaid.v1.AwaitUniqueIdRequest;
import plaid.v1.AwaitUniqueIdResponse;
import plaid.v1.ClusterRendezvousGrpc;
import plaid.v1.HeartbeatRequest;
import plaid.v1.HeartbeatResponse;
import plaid.v1.JoinRequest;
import plaid.v1.JoinResponse;
import plaid.v1.LeaveRequest;
import plaid.v1.LeaveResponse;
import plaid.v1.PublishUniqueIdRequest;
import plaid.v1.PublishUniqueIdResponse;
import plaid.v1.ReportRequest;
import plaid.v1.ReportResponse;

/**
 * The gRPC face of the rendezvous ({@code plaid.v1.ClusterRendezvous}). Join and AwaitUniqueId
 * wait for the other workers, as long as a join timeout, so they run on virtual threads; the
 * other calls are short and run on worker threads ({@link Blocking}: they may use the database).
 */
@GrpcService
public class RendezvousGrpcService implements ClusterRendezvousGrpc.AsyncService, BindableService {
    private final ClusterCoordinator coordinator;

    RendezvousGrpcService(ClusterCoordinator coordinator) {
        this.coordinator = coordinator;
    }

    @Override
    public ServerServiceDefinition bindService() {
        return MalformedRequests.checked(ClusterRendezvousGrpc.bindService(this));
    }

    @Override
    public void join(JoinRequest request, StreamObserver<JoinResponse> response) {
        waiting(response, () -> coordinator.join(request));
    }

    @Override
    @Blocking
    public void publishUniqueId(PublishUniqueIdRequest request, StreamObserver<PublishUniqueIdResponse> response) {
        reply(response, () -> {
            InvalidArgument.require(!request.getUniqueId().isEmpty(), "unique_id", "must not be empty");
            coordinator.publishUniqueId(
                    request.getJobId(),
                    request.getWorkerId(),
                    request.getUniqueId().toByteArray());
            return PublishUniqueIdResponse.getDefaultInstance();
        });
    }

    @Override
    public void awaitUniqueId(AwaitUniqueIdRequest request, StreamObserver<AwaitUniqueIdResponse> response) {
        waiting(
                response,
                () -> AwaitUniqueIdResponse.newBuilder()
                        .setUniqueId(ByteString.copyFrom(
                                coordinator.awaitUniqueId(request.getJobId(), request.getWorkerId())))
                        .build());
    }

    @Override
    @Blocking
    public void heartbeat(HeartbeatRequest request, StreamObserver<HeartbeatResponse> response) {
        reply(response, () -> coordinator.heartbeat(request.getJobId(), request.getWorkerId(), request.getStep()));
    }

    @Override
    @Blocking
    public void report(ReportRequest request, StreamObserver<ReportResponse> response) {
        reply(response, () -> {
            coordinator.report(request);
            return ReportResponse.getDefaultInstance();
        });
    }

    @Override
    @Blocking
    public void leave(LeaveRequest request, StreamObserver<LeaveResponse> response) {
        reply(response, () -> {
            coordinator.leave(
                    request.getJobId(),
                    request.getWorkerId(),
                    request.getOutcome(),
                    request.getFailure(),
                    request.getRetryable());
            return LeaveResponse.getDefaultInstance();
        });
    }

    private static <T> void waiting(StreamObserver<T> response, Callable<T> answer) {
        Thread.ofVirtual().name("rendezvous-wait").start(() -> reply(response, answer));
    }
}

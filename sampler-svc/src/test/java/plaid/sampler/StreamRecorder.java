package plaid.sampler;

import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateRequest;
import plaid.v1.SamplerServiceGrpc;

/** A Generate call left running: its events as they come, its final status, and a way to cancel it. */
final class StreamRecorder implements ClientResponseObserver<GenerateRequest, GenerateEvent> {
    private final BlockingQueue<GenerateEvent> events = new LinkedBlockingQueue<>();
    private final CompletableFuture<Status> end = new CompletableFuture<>();
    private volatile ClientCallStreamObserver<GenerateRequest> call;

    static StreamRecorder start(SamplerServiceGrpc.SamplerServiceStub sampler, GenerateRequest request) {
        StreamRecorder recorder = new StreamRecorder();
        sampler.generate(request, recorder);
        return recorder;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<GenerateRequest> call) {
        this.call = call;
    }

    @Override
    public void onNext(GenerateEvent event) {
        events.add(event);
    }

    @Override
    public void onError(Throwable error) {
        end.complete(Status.fromThrowable(error));
    }

    @Override
    public void onCompleted() {
        end.complete(Status.OK);
    }

    /** The events received so far, taking them. */
    List<GenerateEvent> events() {
        List<GenerateEvent> taken = new ArrayList<>();
        events.drainTo(taken);
        return taken;
    }

    /** The next event, or null if none comes within the timeout. */
    GenerateEvent nextEvent(long seconds) throws InterruptedException {
        return events.poll(seconds, TimeUnit.SECONDS);
    }

    Status awaitEnd(long seconds) throws Exception {
        return end.get(seconds, TimeUnit.SECONDS);
    }

    boolean ended() {
        return end.isDone();
    }

    void cancel() {
        call.cancel("test cancels", null);
    }
}

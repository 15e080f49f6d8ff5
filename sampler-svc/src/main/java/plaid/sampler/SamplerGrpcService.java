package plaid.sampler;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import org.jboss.logging.Logger;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateRequest;
import plaid.v1.ListModelsRequest;
import plaid.v1.ListModelsResponse;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelInfo;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.ScoreRequest;
import plaid.v1.ScoreResponse;

/**
 * The gRPC face of the sampler service. Calls run on worker threads ({@link Blocking}):
 * loading reads files and tokenizing takes time; Generate and Score only check and queue
 * their work there, the device thread ({@link DeviceQueue}) answers them.
 */
@GrpcService
public class SamplerGrpcService extends SamplerServiceGrpc.SamplerServiceImplBase {
    private static final Logger LOG = Logger.getLogger(SamplerGrpcService.class);

    private final ModelRegistry models;
    private final Generation generation;
    private final Scoring scoring;

    SamplerGrpcService(ModelRegistry models, Generation generation, Scoring scoring) {
        this.models = models;
        this.generation = generation;
        this.scoring = scoring;
    }

    @Override
    @Blocking
    public void loadModel(LoadModelRequest request, StreamObserver<ModelInfo> response) {
        ModelInfo info;
        try {
            info = models.load(request).info();
        } catch (RuntimeException e) {
            response.onError(status(e));
            return;
        }
        response.onNext(info);
        response.onCompleted();
    }

    @Override
    @Blocking
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> response) {
        response.onNext(ListModelsResponse.newBuilder().addAllModels(models.list().stream().map(LoadedModel::info).toList()).build());
        response.onCompleted();
    }

    @Override
    @Blocking
    public void generate(GenerateRequest request, StreamObserver<GenerateEvent> response) {
        try {
            generation.start(request, response);
        } catch (RuntimeException e) {
            response.onError(status(e));
        }
    }

    @Override
    @Blocking
    public void score(ScoreRequest request, StreamObserver<ScoreResponse> response) {
        try {
            scoring.start(request, response);
        } catch (RuntimeException e) {
            response.onError(status(e));
        }
    }

    /** A refusal keeps its status; anything else is a bug, INTERNAL. */
    private static StatusRuntimeException status(RuntimeException e) {
        if (e instanceof StatusRuntimeException refusal) return refusal;
        LOG.error("request failed", e);
        return Status.INTERNAL.withDescription(e.toString()).asRuntimeException();
    }
}

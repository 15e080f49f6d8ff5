package plaid.sampler;

import static plaid.service.Replies.reply;
import static plaid.service.Replies.start;

import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import plaid.service.MalformedRequests;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateRequest;
import plaid.v1.ListModelsRequest;
import plaid.v1.ListModelsResponse;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelInfo;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.ScoreRequest;
import plaid.v1.ScoreResponse;
import plaid.v1.UnloadModelRequest;
import plaid.v1.UnloadModelResponse;

/**
 * The gRPC face of the sampler service. Calls run on worker threads ({@link Blocking}):
 * loading reads files and tokenizing takes time; Generate and Score only check and queue
 * their work there, the device thread ({@link DeviceQueue}) answers them.
 */
@GrpcService
public class SamplerGrpcService implements SamplerServiceGrpc.AsyncService, BindableService {
    private final ModelRegistry models;
    private final Generation generation;
    private final Scoring scoring;

    SamplerGrpcService(ModelRegistry models, Generation generation, Scoring scoring) {
        this.models = models;
        this.generation = generation;
        this.scoring = scoring;
    }

    /** Requests that do not parse (invalid UTF-8 in a string) are refused naming the field, not dropped. */
    @Override
    public ServerServiceDefinition bindService() {
        return MalformedRequests.checked(SamplerServiceGrpc.bindService(this));
    }

    @Override
    @Blocking
    public void loadModel(LoadModelRequest request, StreamObserver<ModelInfo> response) {
        reply(response, () -> models.load(request).info());
    }

    @Override
    @Blocking
    public void unloadModel(UnloadModelRequest request, StreamObserver<UnloadModelResponse> response) {
        reply(
                response,
                () -> UnloadModelResponse.newBuilder()
                        .setModel(models.unload(request.getName(), "name").info())
                        .build());
    }

    @Override
    @Blocking
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> response) {
        response.onNext(ListModelsResponse.newBuilder()
                .addAllModels(models.list().stream().map(LoadedModel::info).toList())
                .build());
        response.onCompleted();
    }

    @Override
    @Blocking
    public void generate(GenerateRequest request, StreamObserver<GenerateEvent> response) {
        start(response, () -> generation.start(request, response));
    }

    @Override
    @Blocking
    public void score(ScoreRequest request, StreamObserver<ScoreResponse> response) {
        start(response, () -> scoring.start(request, response));
    }
}

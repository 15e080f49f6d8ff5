package plaid.data;

import static plaid.service.Replies.reply;
import static plaid.service.Replies.start;

import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.util.Arrays;
import java.util.List;
import plaid.service.InvalidArgument;
import plaid.service.MalformedRequests;
import plaid.text.BpeTokenizer;
import plaid.v1.DataServiceGrpc;
import plaid.v1.DetokenizeRequest;
import plaid.v1.DetokenizeResponse;
import plaid.v1.ListDatasetsRequest;
import plaid.v1.ListDatasetsResponse;
import plaid.v1.PrepareDatasetProgress;
import plaid.v1.PrepareDatasetRequest;
import plaid.v1.StreamBatchesRequest;
import plaid.v1.TokenBatch;
import plaid.v1.TokenIds;
import plaid.v1.TokenizeRequest;
import plaid.v1.TokenizeResponse;

/**
 * The gRPC face of the data service: request checks and translation to and from
 * {@code plaid.text}. Unary calls run on worker threads ({@link Blocking}) because
 * tokenizing and listing files would stall the event loop; the streams start their own
 * virtual threads and return at once.
 */
@GrpcService
public class DataGrpcService implements DataServiceGrpc.AsyncService, BindableService {
    private final ServiceTokenizer tokenizer;
    private final Datasets datasets;
    private final CorpusPreparation preparation;
    private final BatchStreaming batchStreaming;
    private final DataServiceConfig.Limits limits;
    private final InFlightWork inFlight;

    DataGrpcService(
            ServiceTokenizer tokenizer,
            Datasets datasets,
            CorpusPreparation preparation,
            BatchStreaming batchStreaming,
            DataServiceConfig config,
            InFlightWork inFlight) {
        this.tokenizer = tokenizer;
        this.datasets = datasets;
        this.preparation = preparation;
        this.batchStreaming = batchStreaming;
        this.limits = config.limits();
        this.inFlight = inFlight;
    }

    /** Requests that do not parse (invalid UTF-8 in a string) are refused naming the field, not dropped. */
    @Override
    public ServerServiceDefinition bindService() {
        return MalformedRequests.checked(DataServiceGrpc.bindService(this));
    }

    @Override
    @Blocking
    public void tokenize(TokenizeRequest request, StreamObserver<TokenizeResponse> response) {
        CallWatch watch = inFlight.watchCurrentCall();
        // The watch is polled; nothing waits that a wake-up would need to reach.
        try (InFlightWork.Registration counted = inFlight.register(() -> {})) {
            tokenize(request, response, watch);
        }
    }

    private void tokenize(TokenizeRequest request, StreamObserver<TokenizeResponse> response, CallWatch watch) {
        reply(response, () -> {
            InvalidArgument.require(request.getTextsCount() > 0, "texts", "must not be empty");
            InvalidArgument.require(
                    request.getTextsCount() <= limits.maxTexts(),
                    "texts",
                    "must hold at most " + limits.maxTexts() + " texts, got " + request.getTextsCount());
            for (int i = 0; i < request.getTextsCount(); i++) {
                int length = request.getTexts(i).length();
                InvalidArgument.require(
                        length <= limits.maxTextChars(),
                        "texts[" + i + "]",
                        "must be at most " + limits.maxTextChars() + " characters, got " + length);
            }
            return tokenizeAll(tokenizer.get(), request.getTextsList(), watch);
        });
    }

    /** Encodes the texts, stopping between them once the call has ended or the service stops. */
    static TokenizeResponse tokenizeAll(BpeTokenizer bpe, List<String> texts, CallWatch watch) {
        TokenizeResponse.Builder reply = TokenizeResponse.newBuilder().setVocabSize(bpe.vocabSize());
        for (String text : texts) {
            watch.check();
            reply.addSequences(TokenIds.newBuilder()
                    .addAllIds(Arrays.stream(bpe.encode(text)).boxed().toList()));
        }
        return reply.build();
    }

    @Override
    @Blocking
    public void detokenize(DetokenizeRequest request, StreamObserver<DetokenizeResponse> response) {
        reply(response, () -> {
            InvalidArgument.require(request.getSequencesCount() > 0, "sequences", "must not be empty");
            InvalidArgument.require(
                    request.getSequencesCount() <= limits.maxTexts(),
                    "sequences",
                    "must hold at most " + limits.maxTexts() + " sequences, got " + request.getSequencesCount());
            long ids = request.getSequencesList().stream()
                    .mapToLong(TokenIds::getIdsCount)
                    .sum();
            InvalidArgument.require(
                    ids <= limits.maxDetokenizeIds(),
                    "sequences",
                    "must hold at most " + limits.maxDetokenizeIds() + " ids in all, got " + ids);
            BpeTokenizer bpe = tokenizer.get();
            DetokenizeResponse.Builder reply = DetokenizeResponse.newBuilder();
            for (int s = 0; s < request.getSequencesCount(); s++) {
                int[] sequence = request.getSequences(s).getIdsList().stream()
                        .mapToInt(Integer::intValue)
                        .toArray();
                for (int i = 0; i < sequence.length; i++)
                    InvalidArgument.require(
                            sequence[i] >= 0 && sequence[i] < bpe.vocabSize(),
                            "sequences[" + s + "].ids[" + i + "]",
                            "must be in [0, " + bpe.vocabSize() + "), got " + sequence[i]);
                reply.addTexts(bpe.decode(sequence, request.getSkipSpecialTokens()));
            }
            return reply.build();
        });
    }

    @Override
    @Blocking
    public void listDatasets(ListDatasetsRequest request, StreamObserver<ListDatasetsResponse> response) {
        reply(
                response,
                () -> ListDatasetsResponse.newBuilder()
                        .addAllDatasets(datasets.list())
                        .build());
    }

    @Override
    @Blocking
    public void prepareDataset(PrepareDatasetRequest request, StreamObserver<PrepareDatasetProgress> response) {
        start(response, () -> preparation.start(request, (ServerCallStreamObserver<PrepareDatasetProgress>) response));
    }

    @Override
    @Blocking
    public void streamBatches(StreamBatchesRequest request, StreamObserver<TokenBatch> response) {
        start(response, () -> batchStreaming.start(request, (ServerCallStreamObserver<TokenBatch>) response));
    }
}

package plaid.sampler;

import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Arrays;
import java.util.List;
import plaid.model.sampling.SamplingRequest;
import plaid.service.InvalidArgument;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateProgress;
import plaid.v1.GenerateRequest;
import plaid.v1.GeneratedTexts;
import plaid.v1.PartialDecode;
import plaid.v1.TokenIds;

/**
 * Generate: the request checked and translated on the call's thread, then handed to the
 * {@link GenerationScheduler}, whose running batch streams its progress, partial decodes and
 * texts. Every request gets exactly the texts it would get alone: its rows draw from its own
 * seed and every op of a step works per row.
 */
@ApplicationScoped
public class Generation {
    /** sample.py's defaults for what the request leaves unset. */
    private static final SamplingRequest SAMPLE_PY = SamplingRequest.defaults(2);

    private final ModelRegistry models;
    private final GenerationScheduler scheduler;
    private final SamplerServiceConfig config;
    private final Counter queuedRequests;

    Generation(ModelRegistry models, GenerationScheduler scheduler, SamplerServiceConfig config, MeterRegistry meters) {
        this.models = models;
        this.scheduler = scheduler;
        this.config = config;
        this.queuedRequests = Counter.builder("plaid.sampler.generate.requests")
                .description("Generate requests checked and admitted or queued")
                .register(meters);
    }

    /** Checks the request and queues it; must be called on the call's own thread. */
    void start(GenerateRequest request, StreamObserver<GenerateEvent> response) {
        submit(request, new GrpcSink(response));
    }

    /** Checks the request (refusals name its fields) and admits or queues it, its events going to {@code sink}. */
    void submit(GenerateRequest request, GenerationSink sink) {
        scheduler.submit(plan(request, sink));
        queuedRequests.increment();
    }

    /** The model a request names, checked; for the HTTP side's listings. */
    LoadedModel model(String name, String field) {
        return models.get(name, field);
    }

    private GenerationJob plan(GenerateRequest request, GenerationSink sink) {
        LoadedModel model = models.get(request.getModel(), "model");
        SamplerServiceConfig.Limits limits = config.limits();
        int samples = request.getSamples() == 0 ? SAMPLE_PY.samples() : request.getSamples();
        InvalidArgument.requireInRange(samples, 1, limits.maxSamples(), "samples");
        int seqLen = request.getSeqLen() == 0 ? model.maxSeqLen() : request.getSeqLen();
        InvalidArgument.requireInRange(seqLen, 1, model.maxSeqLen(), "seq_len");
        InvalidArgument.require(
                (long) samples * seqLen <= scheduler.budget(),
                "samples",
                samples + " × seq_len " + seqLen + " tokens exceed the batch budget of " + scheduler.budget()
                        + " (sampler-svc.batching.max-batch-tokens)");
        int steps = request.getSteps() == 0 ? SAMPLE_PY.steps() : request.getSteps();
        InvalidArgument.requireInRange(steps, 1, limits.maxSteps(), "steps");
        double scoreTemp = request.hasScoreTemp() ? request.getScoreTemp() : SAMPLE_PY.scoreTemp();
        InvalidArgument.require(
                scoreTemp > 0 && Double.isFinite(scoreTemp),
                "score_temp",
                "must be positive and finite, got " + scoreTemp);
        double noiseScale =
                request.hasInitialNoiseScale() ? request.getInitialNoiseScale() : SAMPLE_PY.initialNoiseScale();
        InvalidArgument.require(
                noiseScale > 0 && Double.isFinite(noiseScale),
                "initial_noise_scale",
                "must be positive and finite, got " + noiseScale);
        SamplingRequest.Update update = switch (request.getUpdate()) {
            case UPDATE_RULE_UNSPECIFIED, UPDATE_RULE_ANCESTRAL -> SamplingRequest.Update.ANCESTRAL;
            case UPDATE_RULE_DDIM -> SamplingRequest.Update.DDIM;
            case UNRECOGNIZED ->
                throw InvalidArgument.of("update", "is not a known update rule: " + request.getUpdateValue());
        };
        InvalidArgument.require(
                request.getPartialDecodeEvery() >= 0,
                "partial_decode_every",
                "must not be negative, got " + request.getPartialDecodeEvery());
        InvalidArgument.require(
                request.getProgressEvery() >= 0,
                "progress_every",
                "must not be negative, got " + request.getProgressEvery());
        int progressEvery =
                request.getProgressEvery() == 0 ? config.defaultProgressEvery() : request.getProgressEvery();
        InvalidArgument.require(
                !request.getUseSecondaryLogits() || model.hasSecondaryLogits(),
                "use_secondary_logits",
                "needs a model with secondary logits (a double_logit_reg diffusion_mode); model '" + model.name()
                        + "' runs diffusion_mode " + model.config().diffusionMode);
        SamplingRequest sampling = new SamplingRequest(
                samples,
                seqLen,
                steps,
                scoreTemp,
                noiseScale,
                update,
                GuidanceTerms.of(request.getGuidance(), model, seqLen),
                request.getUseSecondaryLogits());
        return new GenerationJob(
                model,
                sampling,
                request.getSeed(),
                progressEvery,
                request.getPartialDecodeEvery(),
                request.getSkipSpecialTokens(),
                sink);
    }

    /** A Generate call's stream. */
    private static final class GrpcSink implements GenerationSink {
        private final StreamObserver<GenerateEvent> response;
        private final CallWatch watch;

        GrpcSink(StreamObserver<GenerateEvent> response) {
            this.response = response;
            this.watch = new CallWatch(response);
        }

        @Override
        public void progress(int step, int steps, double elapsedSeconds) {
            response.onNext(GenerateEvent.newBuilder()
                    .setProgress(GenerateProgress.newBuilder()
                            .setStep(step)
                            .setSteps(steps)
                            .setElapsedSeconds(elapsedSeconds))
                    .build());
        }

        @Override
        public void partial(int step, int[][] tokens, List<String> texts) {
            response.onNext(GenerateEvent.newBuilder()
                    .setPartial(PartialDecode.newBuilder()
                            .setStep(step)
                            .addAllTokens(tokenIds(tokens))
                            .addAllTexts(texts))
                    .build());
        }

        @Override
        public void result(int[][] tokens, List<String> texts, double elapsedSeconds) {
            response.onNext(GenerateEvent.newBuilder()
                    .setResult(GeneratedTexts.newBuilder()
                            .addAllTokens(tokenIds(tokens))
                            .addAllTexts(texts)
                            .setElapsedSeconds(elapsedSeconds))
                    .build());
            response.onCompleted();
        }

        @Override
        public void fail(StatusRuntimeException error) {
            response.onError(error);
        }

        @Override
        public FinishReason left() {
            return watch.reason();
        }
    }

    private static Iterable<TokenIds> tokenIds(int[][] sequences) {
        return Arrays.stream(sequences)
                .map(ids -> TokenIds.newBuilder()
                        .addAllIds(Arrays.stream(ids).boxed().toList())
                        .build())
                .toList();
    }
}

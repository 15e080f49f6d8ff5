package plaid.sampler;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import jakarta.enterprise.context.ApplicationScoped;
import org.jboss.logging.Logger;
import plaid.model.sampling.DiffusionSampler;
import plaid.model.sampling.NoiseSource;
import plaid.model.sampling.SamplingRequest;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateProgress;
import plaid.v1.GenerateRequest;
import plaid.v1.GeneratedTexts;
import plaid.v1.PartialDecode;
import plaid.v1.TokenIds;

import java.util.Arrays;

/**
 * Generate: the request checked and translated on the call's thread, then one sampler run
 * on the device thread that streams progress, partial decodes and the final texts.
 * Requests run one at a time, each with its own batch (no merging of compatible requests).
 */
@ApplicationScoped
public class Generation {
    private static final Logger LOG = Logger.getLogger(Generation.class);
    /** sample.py's defaults for what the request leaves unset. */
    private static final SamplingRequest SAMPLE_PY = SamplingRequest.defaults(2);

    private final ModelRegistry models;
    private final DeviceQueue device;
    private final SamplerServiceConfig config;

    Generation(ModelRegistry models, DeviceQueue device, SamplerServiceConfig config) {
        this.models = models;
        this.device = device;
        this.config = config;
    }

    /** What one run needs beyond the sampler's request. */
    private record Run(LoadedModel model, SamplingRequest sampling, long seed, int progressEvery, int partialEvery, boolean skipSpecialTokens) {}

    /** Checks the request and queues its run; must be called on the call's own thread. */
    void start(GenerateRequest request, StreamObserver<GenerateEvent> response) {
        Run run = plan(request);
        CallWatch watch = new CallWatch(response);
        device.submit(() -> execute(run, watch, response));
    }

    private Run plan(GenerateRequest request) {
        LoadedModel model = models.get(request.getModel(), "model");
        SamplerServiceConfig.Limits limits = config.limits();
        int samples = request.getSamples() == 0 ? SAMPLE_PY.samples() : request.getSamples();
        InvalidArgument.requireInRange(samples, 1, limits.maxSamples(), "samples");
        int seqLen = request.getSeqLen() == 0 ? model.maxSeqLen() : request.getSeqLen();
        InvalidArgument.requireInRange(seqLen, 1, model.maxSeqLen(), "seq_len");
        int steps = request.getSteps() == 0 ? SAMPLE_PY.steps() : request.getSteps();
        InvalidArgument.requireInRange(steps, 1, limits.maxSteps(), "steps");
        double scoreTemp = request.hasScoreTemp() ? request.getScoreTemp() : SAMPLE_PY.scoreTemp();
        InvalidArgument.require(scoreTemp > 0 && Double.isFinite(scoreTemp), "score_temp", "must be positive and finite, got " + scoreTemp);
        double noiseScale = request.hasInitialNoiseScale() ? request.getInitialNoiseScale() : SAMPLE_PY.initialNoiseScale();
        InvalidArgument.require(noiseScale > 0 && Double.isFinite(noiseScale), "initial_noise_scale", "must be positive and finite, got " + noiseScale);
        SamplingRequest.Update update = switch (request.getUpdate()) {
            case UPDATE_RULE_UNSPECIFIED, UPDATE_RULE_ANCESTRAL -> SamplingRequest.Update.ANCESTRAL;
            case UPDATE_RULE_DDIM -> SamplingRequest.Update.DDIM;
            case UNRECOGNIZED -> throw InvalidArgument.of("update", "is not a known update rule: " + request.getUpdateValue());
        };
        InvalidArgument.require(request.getPartialDecodeEvery() >= 0, "partial_decode_every", "must not be negative, got " + request.getPartialDecodeEvery());
        InvalidArgument.require(request.getProgressEvery() >= 0, "progress_every", "must not be negative, got " + request.getProgressEvery());
        int progressEvery = request.getProgressEvery() == 0 ? config.defaultProgressEvery() : request.getProgressEvery();
        SamplingRequest sampling = new SamplingRequest(samples, seqLen, steps, scoreTemp, noiseScale, update,
                GuidanceTerms.of(request.getGuidance(), model, seqLen));
        return new Run(model, sampling, request.getSeed(), progressEvery, request.getPartialDecodeEvery(), request.getSkipSpecialTokens());
    }

    private static void execute(Run run, CallWatch watch, StreamObserver<GenerateEvent> response) {
        if (watch.clientLeft()) return;
        long start = System.nanoTime();
        int steps = run.sampling().steps();
        // The sampler's only hook between steps is its partial-decode listener, which costs an
        // argmax over the logits; it runs at the steps where something is due, and there the
        // call's cancellation is checked too.
        int hookEvery = run.partialEvery() == 0 ? run.progressEvery() : gcd(run.progressEvery(), run.partialEvery());
        try {
            int[][] tokens = new DiffusionSampler(run.model().parameters(), run.model().maxSeqLen())
                    .sample(run.sampling(), NoiseSource.seeded(run.seed()), hookEvery, (step, argmax) -> {
                        watch.stopIfClientLeft();
                        if (step % run.progressEvery() == 0) response.onNext(progress(step, steps, start));
                        if (run.partialEvery() > 0 && step % run.partialEvery() == 0)
                            response.onNext(GenerateEvent.newBuilder().setPartial(PartialDecode.newBuilder().setStep(step)
                                    .addAllTokens(tokenIds(argmax)).addAllTexts(run.model().decode(argmax, run.skipSpecialTokens()))).build());
                    });
            watch.stopIfClientLeft();
            if (steps % run.progressEvery() != 0) response.onNext(progress(steps, steps, start));
            response.onNext(GenerateEvent.newBuilder().setResult(GeneratedTexts.newBuilder().addAllTokens(tokenIds(tokens))
                    .addAllTexts(run.model().decode(tokens, run.skipSpecialTokens())).setElapsedSeconds(secondsSince(start))).build());
            response.onCompleted();
        } catch (CallWatch.ClientLeft e) {
            LOG.debugf("generation with model '%s' stopped: %s", run.model().name(), e.getMessage());
        } catch (RuntimeException e) {
            LOG.errorf(e, "generation with model '%s' failed", run.model().name());
            response.onError(Status.INTERNAL.withDescription("generation failed: " + e).asRuntimeException());
        }
    }

    private static GenerateEvent progress(int step, int steps, long start) {
        return GenerateEvent.newBuilder().setProgress(GenerateProgress.newBuilder().setStep(step).setSteps(steps)
                .setElapsedSeconds(secondsSince(start))).build();
    }

    private static Iterable<TokenIds> tokenIds(int[][] sequences) {
        return Arrays.stream(sequences).map(ids -> TokenIds.newBuilder().addAllIds(Arrays.stream(ids).boxed().toList()).build()).toList();
    }

    private static double secondsSince(long nanoTime) {
        return (System.nanoTime() - nanoTime) / 1e9;
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }
}

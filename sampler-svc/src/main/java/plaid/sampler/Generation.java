package plaid.sampler;

import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import org.jboss.logging.Logger;
import plaid.model.sampling.DiffusionSampler;
import plaid.model.sampling.NoiseSource;
import plaid.model.sampling.SamplingRequest;
import plaid.service.InvalidArgument;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateProgress;
import plaid.v1.GenerateRequest;
import plaid.v1.GeneratedTexts;
import plaid.v1.PartialDecode;
import plaid.v1.TokenIds;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * Generate: the request checked and translated on the call's thread, then a sampler run on
 * the device thread that streams progress, partial decodes and the final texts. Waiting
 * requests that differ only in samples, seed and what they stream join the run as extra
 * rows: each row's draws come from its own request's seed, in the order a run of that
 * request alone makes them, so every request gets the texts it would get alone.
 */
@ApplicationScoped
public class Generation {
    private static final Logger LOG = Logger.getLogger(Generation.class);
    /** sample.py's defaults for what the request leaves unset. */
    private static final SamplingRequest SAMPLE_PY = SamplingRequest.defaults(2);

    private final ModelRegistry models;
    private final DeviceQueue device;
    private final SamplerServiceConfig config;
    private final AtomicLong joinedRequests = new AtomicLong();
    private final Counter queuedRequests;

    Generation(ModelRegistry models, DeviceQueue device, SamplerServiceConfig config, MeterRegistry meters) {
        this.models = models;
        this.device = device;
        this.config = config;
        this.queuedRequests = Counter.builder("plaid.sampler.generate.requests")
                .description("Generate calls checked and queued for the device").register(meters);
        FunctionCounter.builder("plaid.sampler.generate.joined", joinedRequests, AtomicLong::get)
                .description("Generate calls that shared another call's batched run").register(meters);
    }

    /** One checked request waiting for the device, and the call that waits for its events. */
    private final class Job implements Runnable {
        final LoadedModel model;
        final SamplingRequest sampling;
        final long seed;
        final int progressEvery;
        final int partialEvery;
        final boolean skipSpecialTokens;
        final CallWatch watch;
        final StreamObserver<GenerateEvent> response;

        Job(LoadedModel model, SamplingRequest sampling, long seed, int progressEvery, int partialEvery, boolean skipSpecialTokens,
            StreamObserver<GenerateEvent> response) {
            this.model = model;
            this.sampling = sampling;
            this.seed = seed;
            this.progressEvery = progressEvery;
            this.partialEvery = partialEvery;
            this.skipSpecialTokens = skipSpecialTokens;
            this.watch = new CallWatch(response);
            this.response = response;
        }

        @Override
        public void run() {
            runWithWaitingCompanions(this);
        }

        /** Whether {@code other} can share this run: the same model and sampler settings, guidance included. */
        boolean compatibleWith(Job other) {
            return model == other.model && sampling.withSamples(1).equals(other.sampling.withSamples(1));
        }

        /** The steps where this call wants an event: its hook interval for the sampler. */
        int eventEvery() {
            return partialEvery == 0 ? progressEvery : gcd(progressEvery, partialEvery);
        }
    }

    /** Checks the request and queues its run; must be called on the call's own thread. */
    void start(GenerateRequest request, StreamObserver<GenerateEvent> response) {
        Job job = plan(request, response);
        device.submit(job);
        queuedRequests.increment();
    }

    /** Requests that have shared another request's run since the start, for logs and tests. */
    long joinedRequests() {
        return joinedRequests.get();
    }

    private Job plan(GenerateRequest request, StreamObserver<GenerateEvent> response) {
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
        InvalidArgument.require(!request.getUseSecondaryLogits() || model.hasSecondaryLogits(), "use_secondary_logits",
                "needs a model with secondary logits (a double_logit_reg diffusion_mode); model '" + model.name() + "' runs diffusion_mode "
                        + model.parameters().config().diffusionMode);
        SamplingRequest sampling = new SamplingRequest(samples, seqLen, steps, scoreTemp, noiseScale, update,
                GuidanceTerms.of(request.getGuidance(), model, seqLen), request.getUseSecondaryLogits());
        return new Job(model, sampling, request.getSeed(), progressEvery, request.getPartialDecodeEvery(), request.getSkipSpecialTokens(), response);
    }

    /** Runs {@code first} with the compatible requests waiting behind it, up to the samples limit in all. */
    private void runWithWaitingCompanions(Job first) {
        int[] budget = {config.limits().maxSamples() - first.sampling.samples()};
        List<Job> jobs = new ArrayList<>(List.of(first));
        jobs.addAll(device.takeWaiting(Job.class, other -> {
            if (!first.compatibleWith(other) || other.sampling.samples() > budget[0]) return false;
            budget[0] -= other.sampling.samples();
            return true;
        }));
        List<Member> members = new ArrayList<>();
        int rows = 0;
        for (Job job : jobs) {
            if (job.watch.clientLeft()) continue;
            members.add(new Member(job, rows));
            rows += job.sampling.samples();
        }
        if (members.isEmpty()) return;
        if (members.size() > 1) {
            joinedRequests.addAndGet(members.size() - 1);
            LOG.debugf("%d requests share one run of model '%s'", members.size(), first.model.name());
        }
        execute(members, rows);
    }

    /** A request in a run: its rows start at {@code firstRow}. */
    private static final class Member {
        final Job job;
        final int firstRow;
        boolean left;

        Member(Job job, int firstRow) {
            this.job = job;
            this.firstRow = firstRow;
        }

        int[][] rows(int[][] all) {
            return Arrays.copyOfRange(all, firstRow, firstRow + job.sampling.samples());
        }

        /** Notes a client that has gone, so that no more work is done for it. */
        boolean present() {
            left = left || job.watch.clientLeft();
            return !left;
        }
    }

    private static void execute(List<Member> members, int rows) {
        Job lead = members.getFirst().job;
        long start = System.nanoTime();
        int steps = lead.sampling.steps();
        // The sampler's only hook between steps is its partial-decode listener, which costs an
        // argmax over the logits; it runs at the steps where some call wants an event, and there
        // the calls' cancellation is checked too.
        int hookEvery = members.stream().mapToInt(m -> m.job.eventEvery()).reduce(Generation::gcd).orElseThrow();
        try {
            int[][] tokens = new DiffusionSampler(lead.model.parameters(), lead.model.maxSeqLen())
                    .sample(lead.sampling.withSamples(rows), noise(members), hookEvery, (step, argmax) -> {
                        boolean anyPresent = false;
                        for (Member member : members) {
                            if (!member.present()) continue;
                            anyPresent = true;
                            Job job = member.job;
                            if (step % job.progressEvery == 0) job.response.onNext(progress(step, steps, start));
                            if (job.partialEvery > 0 && step % job.partialEvery == 0) {
                                int[][] own = member.rows(argmax);
                                job.response.onNext(GenerateEvent.newBuilder().setPartial(PartialDecode.newBuilder().setStep(step)
                                        .addAllTokens(tokenIds(own)).addAllTexts(job.model.decode(own, job.skipSpecialTokens))).build());
                            }
                        }
                        if (!anyPresent) throw new CallWatch.ClientLeft();
                    });
            for (Member member : members) {
                if (!member.present()) continue;
                Job job = member.job;
                int[][] own = member.rows(tokens);
                if (steps % job.progressEvery != 0) job.response.onNext(progress(steps, steps, start));
                job.response.onNext(GenerateEvent.newBuilder().setResult(GeneratedTexts.newBuilder().addAllTokens(tokenIds(own))
                        .addAllTexts(job.model.decode(own, job.skipSpecialTokens)).setElapsedSeconds(secondsSince(start))).build());
                job.response.onCompleted();
            }
        } catch (CallWatch.ClientLeft e) {
            LOG.debugf("generation with model '%s' stopped: %s", lead.model.name(), e.getMessage());
        } catch (RuntimeException e) {
            LOG.errorf(e, "generation with model '%s' failed", lead.model.name());
            for (Member member : members) member.job.response.onError(DeviceErrors.status(e, "generation failed"));
        }
    }

    /**
     * The run's draws: each request's rows filled from its own seed, the same numbers in the
     * same order as {@link NoiseSource#seeded} gives a run of that request alone.
     */
    private static NoiseSource noise(List<Member> members) {
        List<NoiseSource> sources = members.stream().map(m -> NoiseSource.seeded(m.job.seed)).toList();
        return new NoiseSource() {
            @Override
            public void initialLatent(double[] out) {
                fill(out, NoiseSource::initialLatent);
            }

            @Override
            public void stepNoise(double[] out) {
                fill(out, NoiseSource::stepNoise);
            }

            private void fill(double[] out, BiConsumer<NoiseSource, double[]> draw) {
                int rows = members.stream().mapToInt(m -> m.job.sampling.samples()).sum();
                int perRow = out.length / rows;
                for (int k = 0; k < members.size(); k++) {
                    double[] own = new double[members.get(k).job.sampling.samples() * perRow];
                    draw.accept(sources.get(k), own);
                    System.arraycopy(own, 0, out, members.get(k).firstRow * perRow, own.length);
                }
            }
        };
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

package plaid.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.backend.MatmulPrecision;
import plaid.backend.Segments;
import plaid.backend.StepGraph;
import plaid.backend.Tensor;
import plaid.model.Denoiser;
import plaid.model.Parameter;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;

/**
 * Sampling with the model call recorded once and replayed ({@link StepGraph}; on CUDA with
 * {@code -Dplaid.cuda.graphs=true}, CUDA graphs) against sampling with every op launched: the same kernels on
 * the same tensors, so bit for bit the same x̂ and logits every step and the same sampled ids, and on CUDA
 * the recordings really were replayed. On the backend {@code -Dplaid.backend} names; gpu/run-tests.sh runs it
 * on CUDA, in fp32/TF32 and in the bf16 mode. On the CPU, which records nothing, both runs are the direct one.
 */
class SamplerGraphsParityTest {
    private static final String GRAPHS = "plaid.cuda.graphs";

    private final ComputeBackend direct = ComputeBackends.fromSystemProperty();
    private final ComputeBackend graphs = withGraphs();
    private final boolean cuda = direct.name().equals("cuda");
    private final int vocab = cuda ? 4096 : 64, seqLen = cuda ? 64 : 8;
    private final PlaidConfig c = TinyModel.config(vocab, cuda);
    private final PlaidParameters onDirect = TinyModel.randomise(PlaidParameters.initialize(c, direct, 7), 7);
    private final PlaidParameters onGraphs = PlaidParameters.fromStateDicts(c, graphs, onDirect.toStateDicts());

    /** A second backend of the same kind, made with graphs on (as a deployment's -Dplaid.cuda.graphs=true). */
    private static ComputeBackend withGraphs() {
        String before = System.getProperty(GRAPHS);
        System.setProperty(GRAPHS, "true");
        try {
            return ComputeBackends.fromSystemProperty();
        } finally {
            if (before == null) System.clearProperty(GRAPHS);
            else System.setProperty(GRAPHS, before);
        }
    }

    @AfterEach
    void close() {
        graphs.close();
        direct.close();
    }

    @Test
    void aRecordedDenoiserStepGivesBitForBitTheFloatsOfTheDirectOne() {
        int rows = 3, steps = 6;
        List<float[]> expected = denoiserSteps(onDirect, rows, steps, null, null);
        long[] replays = new long[1];
        String[] fallback = new String[1];
        List<float[]> got = denoiserSteps(onGraphs, rows, steps, replays, fallback);
        // the first run is direct, the second captured, the others replayed; else the message names the culprit
        assertThat(replays[0])
                .as("replays on %s (the latest fallback to a direct run: %s)", direct.name(), fallback[0])
                .isEqualTo(cuda ? steps - 2 : 0);
        for (int i = 0; i < steps; i++) assertThat(got.get(i)).as("step %d", i).isEqualTo(expected.get(i));
        assertThat(got.get(steps - 1)).as("the steps' inputs differ").isNotEqualTo(got.get(steps - 2));
    }

    /** x̂ and the logits of {@code steps} forwards at different z, x_sc and γ, as the sampler runs them. */
    private List<float[]> denoiserSteps(
            PlaidParameters params, int rows, int steps, long[] replays, String[] fallback) {
        ComputeBackend be = params.backend();
        int e = c.embedDim, size = rows * seqLen * e;
        Denoiser denoiser = new Denoiser(c, params, rows, seqLen);
        Tensor embedding = be.allocate(vocab, e), z = be.allocate(rows * seqLen, e), sc = be.allocate(rows * seqLen, e);
        be.upload(params.normalizedEmbedding(), embedding);
        Segments segments = Segments.whole(rows, seqLen);
        StepGraph graph = be.stepGraph();
        List<Tensor> weights = params.all().stream().map(Parameter::value).toList();
        List<float[]> out = new ArrayList<>();
        MatmulPrecision.withTf32(() -> be.withReadOnly(weights, () -> {
            SplittableRandom random = new SplittableRandom(21);
            for (int i = 0; i < steps; i++) {
                float[] zHost = new float[size], scHost = new float[size];
                for (int k = 0; k < size; k++) {
                    zHost[k] = (float) random.nextGaussian();
                    scHost[k] = i == 0 ? 0f : (float) random.nextGaussian();
                }
                double[] gammas = new double[rows];
                for (int r = 0; r < rows; r++) gammas[r] = -4 + 8 * random.nextDouble();
                graph.run(() -> {
                    be.upload(zHost, z);
                    be.upload(scHost, sc);
                    denoiser.forward(z, gammas, embedding, 1.0, sc, null, segments, false);
                });
                float[] x = be.download(denoiser.xReconst()), logits = be.download(denoiser.logits());
                float[] both = Arrays.copyOf(x, x.length + logits.length);
                System.arraycopy(logits, 0, both, x.length, logits.length);
                out.add(both);
            }
            return null;
        }));
        if (replays != null) replays[0] = graph.replays();
        if (fallback != null) fallback[0] = graph.lastFallback().orElse("none");
        return out;
    }

    @Test
    void samplingWithRecordedModelCallsGivesTheIdsOfDirectSampling() {
        Map<String, SamplingRequest> requests = new LinkedHashMap<>();
        requests.put(
                "ancestral", SamplingRequest.defaults(seqLen).withSamples(2).withSteps(8));
        requests.put(
                "ddim",
                SamplingRequest.defaults(seqLen)
                        .withSamples(1)
                        .withSteps(6)
                        .withUpdate(SamplingRequest.Update.DDIM)
                        .withScoreTemp(0.8));
        requests.put(
                "guided",
                SamplingRequest.defaults(seqLen)
                        .withSamples(1)
                        .withSteps(5)
                        .withGuidance(Guidance.prefix(new int[] {3, 5}, 3.0)));
        long[] replays = new long[1];
        List<String> fallbacks = new ArrayList<>();
        Map<String, int[][]> expected = sampleTogether(onDirect, requests, null, null);
        Map<String, int[][]> got = sampleTogether(onGraphs, requests, replays, fallbacks);
        for (String name : requests.keySet()) assertThat(got.get(name)).as(name).isDeepEqualTo(expected.get(name));
        if (cuda)
            assertThat(replays[0])
                    .as("model calls replayed (their latest fallbacks to direct runs: %s)", fallbacks)
                    .isGreaterThan(0);
        else assertThat(replays[0]).isZero();
    }

    /**
     * The requests as one batch steps them together in one session, as DiffusionSampler does (lanes: unguided,
     * guided, and the final calls' rows), each with its own seed.
     */
    private Map<String, int[][]> sampleTogether(
            PlaidParameters params, Map<String, SamplingRequest> requests, long[] replays, List<String> fallbacks) {
        SamplerBatch batch = new SamplerBatch(c, params, seqLen);
        Map<String, Trajectory> running = new LinkedHashMap<>();
        int seed = 0;
        for (var r : requests.entrySet())
            running.put(r.getKey(), batch.start(r.getValue(), NoiseSource.seeded(seed++), 0, null));
        Map<String, int[][]> finished = new LinkedHashMap<>();
        batch.session(() -> {
            while (finished.size() < requests.size()) {
                batch.step(running.values());
                running.forEach((name, t) -> {
                    if (t.finished()) finished.putIfAbsent(name, t.result());
                });
            }
            return null;
        });
        if (replays != null) replays[0] = batch.stepGraphReplays();
        if (fallbacks != null) fallbacks.addAll(batch.stepGraphFallbacks());
        return finished;
    }
}

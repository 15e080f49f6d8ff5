package plaid.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import plaid.model.PlaidParameters;

/** Requests of mixed settings joining a shared batch at random steps get bit for bit what they get alone. */
class SamplerBatchTest {
    private static final int VOCAB = 40, MAX_SEQ_LEN = 8;

    /** One request: its settings, seed, partial-decode cadence and the global step at which it joins. */
    private record Arrival(SamplingRequest request, long seed, int decodeEvery, int joinAt) {}

    @Test
    void mixedRequestsJoiningAtRandomStepsGetWhatTheyGetAlone() {
        PlaidParameters params = TinyModel.randomised(VOCAB, 1);
        SplittableRandom random = new SplittableRandom(42);
        List<Arrival> arrivals = new ArrayList<>();
        for (int i = 0; i < 14; i++) arrivals.add(randomArrival(random, i));

        // alone: each request in a sampler of its own
        Map<Arrival, int[][]> alone = new HashMap<>();
        Map<Arrival, List<String>> aloneDecodes = new HashMap<>();
        for (Arrival a : arrivals) {
            List<String> decodes = new ArrayList<>();
            alone.put(
                    a,
                    new DiffusionSampler(TinyModel.config(VOCAB), params, MAX_SEQ_LEN)
                            .sample(
                                    a.request,
                                    NoiseSource.seeded(a.seed),
                                    a.decodeEvery,
                                    (step, tokens) -> decodes.add(step + ":" + java.util.Arrays.deepToString(tokens))));
            aloneDecodes.put(a, decodes);
        }

        // shared: one batch, requests joining at their step and leaving when done
        SamplerBatch batch = new SamplerBatch(TinyModel.config(VOCAB), params, MAX_SEQ_LEN);
        Map<Arrival, Trajectory> running = new HashMap<>();
        Map<Arrival, List<String>> sharedDecodes = new HashMap<>();
        Map<Arrival, int[][]> shared = new HashMap<>();
        int maxRows = 0;
        for (int step = 0; shared.size() < arrivals.size(); step++) {
            for (Arrival a : arrivals) {
                if (a.joinAt != step) continue;
                List<String> decodes = new ArrayList<>();
                sharedDecodes.put(a, decodes);
                running.put(
                        a,
                        batch.start(
                                a.request,
                                NoiseSource.seeded(a.seed),
                                a.decodeEvery,
                                (s, tokens) -> decodes.add(s + ":" + java.util.Arrays.deepToString(tokens))));
            }
            maxRows = Math.max(maxRows, stepOnce(batch, running, shared));
        }
        assertThat(maxRows).as("requests overlapped in the batch").isGreaterThan(6);
        for (Arrival a : arrivals) {
            assertThat(shared.get(a)).as(a.toString()).isDeepEqualTo(alone.get(a));
            assertThat(sharedDecodes.get(a)).as(a.toString()).isEqualTo(aloneDecodes.get(a));
        }
    }

    /**
     * One step of every running trajectory in one session; moves the finished ones' results into {@code
     * finished}. Returns the rows that shared the step, to check requests really overlapped.
     */
    static <K> int stepOnce(SamplerBatch batch, Map<K, Trajectory> running, Map<K, int[][]> finished) {
        int rows = running.values().stream().mapToInt(Trajectory::rows).sum();
        List<Trajectory> now = List.copyOf(running.values());
        batch.session(() -> {
            batch.step(now);
            return null;
        });
        running.entrySet().removeIf(e -> {
            if (!e.getValue().finished()) return false;
            finished.put(e.getKey(), e.getValue().result());
            return true;
        });
        return rows;
    }

    private static Arrival randomArrival(SplittableRandom random, int i) {
        int seqLen = random.nextBoolean() ? MAX_SEQ_LEN : 5;
        SamplingRequest request = SamplingRequest.defaults(seqLen)
                .withSamples(1 + random.nextInt(3))
                .withSteps(2 + random.nextInt(14))
                .withScoreTemp(random.nextBoolean() ? 0.9 : 0.6 + random.nextDouble())
                .withUpdate(random.nextBoolean() ? SamplingRequest.Update.ANCESTRAL : SamplingRequest.Update.DDIM);
        switch (random.nextInt(4)) {
            case 0 ->
                request = request.withGuidance(
                        Guidance.prefix(new int[] {random.nextInt(VOCAB), random.nextInt(VOCAB)}, 3.0));
            case 1 ->
                request = request.withGuidance(List.of(
                        GuidanceTerm.anywhere(random.nextInt(VOCAB), 2.0),
                        GuidanceTerm.everywhere(random.nextInt(VOCAB), 1.0).complemented()));
            default -> {}
        }
        return new Arrival(request, 100 + i, 1 + random.nextInt(4), random.nextInt(20));
    }
}

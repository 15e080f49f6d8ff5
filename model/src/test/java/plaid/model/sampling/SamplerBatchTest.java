package plaid.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
        // as a server runs it: rows padded to buckets, the host work forked however small
        SamplerBatch batch = new SamplerBatch(TinyModel.config(VOCAB), params, MAX_SEQ_LEN);
        batch.padRowsToBuckets(64L * MAX_SEQ_LEN);
        batch.hostWorkFrom(0);
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

    @Test
    void paddedRowsLeaveARequestsIdsAndPartialsAsAlone() {
        PlaidParameters params = TinyModel.randomised(VOCAB, 3);
        SamplingRequest guided = SamplingRequest.defaults(MAX_SEQ_LEN)
                .withSamples(3)
                .withSteps(9)
                .withGuidance(Guidance.prefix(new int[] {4, 7}, 3.0));
        SamplingRequest plain =
                SamplingRequest.defaults(MAX_SEQ_LEN).withSamples(2).withSteps(9);
        List<String> aloneDecodes = new ArrayList<>();
        int[][] alone = new DiffusionSampler(TinyModel.config(VOCAB), params, MAX_SEQ_LEN)
                .sample(
                        guided,
                        NoiseSource.seeded(5),
                        2,
                        (step, tokens) -> aloneDecodes.add(step + ":" + Arrays.deepToString(tokens)));

        SamplerBatch batch = new SamplerBatch(TinyModel.config(VOCAB), params, MAX_SEQ_LEN);
        batch.padRowsToBuckets(16L * MAX_SEQ_LEN);
        List<String> decodes = new ArrayList<>();
        Map<String, Trajectory> running = new HashMap<>();
        running.put(
                "guided",
                batch.start(
                        guided,
                        NoiseSource.seeded(5),
                        2,
                        (step, tokens) -> decodes.add(step + ":" + Arrays.deepToString(tokens))));
        running.put("plain", batch.start(plain, NoiseSource.seeded(6), 0, null));
        Map<String, int[][]> finished = new HashMap<>();
        Set<Integer> callRows = new HashSet<>();
        while (finished.size() < 2) {
            stepOnce(batch, running, finished);
            callRows.addAll(batch.callRows().values());
        }
        // 3 guided rows in a call of 4; 2 plain rows, then the final calls' 3 + 2 rows in one of 8
        assertThat(callRows).as("padded call sizes").contains(4, 8);
        assertThat(finished.get("guided")).isDeepEqualTo(alone);
        assertThat(decodes).isEqualTo(aloneDecodes).hasSize(4);
    }

    @Test
    void aLanesCallGrowsAtOnceAndShrinksOnceItsPaddingHasCostARebuild() {
        SamplerBatch batch = new SamplerBatch(TinyModel.config(VOCAB), TinyModel.initialised(VOCAB, 1), MAX_SEQ_LEN);
        batch.padRowsToBuckets(64L * MAX_SEQ_LEN);
        // 16 held rows for 3 real ones (bucket 4): 12 padded rows a step at 1 ns each; a rebuild costs 5 such steps
        batch.fixCallCosts(1.0, 12L * 5);
        SamplingRequest request =
                SamplingRequest.defaults(MAX_SEQ_LEN).withSamples(1).withSteps(100);
        List<Trajectory> all = new ArrayList<>();
        for (int i = 0; i < 9; i++) all.add(batch.start(request, NoiseSource.seeded(i), 0, null));
        List<Integer> held = new ArrayList<>();
        batch.session(() -> {
            for (int s = 0; s < 14; s++) {
                // 3 rows, 9 rows, 3 rows for a while, 9 again (the call grows at once), then 3 again
                boolean nine = s == 1 || s == 9;
                batch.step(nine ? all : all.subList(0, 3));
                held.addAll(batch.callRows().values());
            }
            return null;
        });
        assertThat(held).containsExactly(4, 16, 16, 16, 16, 16, 4, 4, 4, 16, 16, 16, 16, 16);
    }

    @Test
    void paddingThatCostsNothingNeverShrinksTheCall() {
        CallSizing free = CallSizing.fixed(0, 1_000);
        for (int s = 0; s < 1000; s++) assertThat(free.shrinkNow(16, 4)).isFalse();
        CallSizing measured = CallSizing.measured(1_000);
        assertThat(measured.shrinkNow(16, 4)).as("no step measured yet").isFalse();
        measured.observeStep(16, 16_000); // 1 µs a row; the first step adds its 16 µs to the rebuild's price
        int steps = 0;
        while (!measured.shrinkNow(16, 4)) steps++;
        // 12 padded rows × 1 µs a step against 17 µs: the 2nd step pays for it
        assertThat(steps).isEqualTo(1);
        assertThat(measured.shrinkNow(4, 4)).as("a call its rows fill").isFalse();
    }

    @Test
    void rowBucketsArePowersOfTwoToEightThenMultiplesOfEightWithinTheBudget() {
        int[] rows = {1, 2, 3, 4, 5, 8, 9, 16, 17, 63, 64, 65};
        int[] buckets = new int[rows.length];
        for (int i = 0; i < rows.length; i++) buckets[i] = SamplerBatch.bucket(rows[i], 64);
        assertThat(buckets).containsExactly(1, 2, 4, 4, 8, 8, 16, 16, 24, 64, 64, 65);
        assertThat(SamplerBatch.bucket(5, 6)).as("capped at the budget").isEqualTo(6);
        assertThat(SamplerBatch.bucket(20, 12)).as("never below the rows").isEqualTo(20);
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

package plaid.model.sampling;

import java.util.Arrays;

/**
 * One request's rows on their way through sample.py's loop: the float64 latent z, the
 * self-conditioning input x̂ of the previous step, its own noise draws and its own step
 * counter. A {@link SamplerBatch} moves any set of trajectories one step at a time, each at
 * its own t, so requests with different settings share forward passes and still get exactly
 * the numbers a run alone gives them (every op of a forward works per row).
 */
public final class Trajectory {
    final SamplingRequest request;
    private final NoiseSource noise;
    private final int decodeEvery;
    private final PartialDecodeListener listener;
    private final double[] times;
    final double[] z;
    /** x̂ of the latest step in z's space, the next forward's self-conditioning input (zeros at the first). */
    final float[] selfCond;

    final double[] stepNoise;
    private int step;
    private int[][] result;

    Trajectory(
            SamplingRequest request, NoiseSource noise, int embedDim, int decodeEvery, PartialDecodeListener listener) {
        if (listener != null && decodeEvery <= 0)
            throw new IllegalArgumentException("decodeEvery must be positive, got " + decodeEvery);
        this.request = request;
        this.noise = noise;
        this.decodeEvery = decodeEvery;
        this.listener = listener;
        this.times = DiffusionSampler.torchLinspace(1.0, 0.0, request.steps());
        int size = request.samples() * request.seqLen() * embedDim;
        this.z = new double[size];
        noise.initialLatent(z);
        for (int k = 0; k < size; k++) z[k] *= request.initialNoiseScale();
        this.selfCond = new float[size];
        this.stepNoise = request.update() == SamplingRequest.Update.ANCESTRAL ? new double[size] : null;
    }

    public SamplingRequest request() {
        return request;
    }

    /** Steps taken so far (0..T); T once only the final argmax call is left or done. */
    public int stepsDone() {
        return step;
    }

    /** Whether the final argmax has been taken: {@link #result()} holds the tokens. */
    public boolean finished() {
        return result != null;
    }

    /** The sampled token ids [N][S] once {@link #finished()}, else null. */
    public int[][] result() {
        return result;
    }

    int rows() {
        return request.samples();
    }

    /** Whether the next forward is the final argmax call (all T steps taken). */
    boolean atFinalCall() {
        return step == request.steps();
    }

    /** Whether the next forward takes a backward for guidance. */
    boolean guidedNow() {
        return !atFinalCall() && !request.guidance().isEmpty();
    }

    double t() {
        return times[Math.min(step, times.length - 1)];
    }

    /** t − 1/T, as the original (1/T, not 1/(T−1)). */
    double s() {
        return t() - 1.0 / request.steps();
    }

    /** Draws this step's ancestral noise, in the order a run alone draws it (only steps with t > 0 move z). */
    void drawStepNoise() {
        if (stepNoise != null && !atFinalCall() && t() > 0) noise.stepNoise(stepNoise);
    }

    boolean wantsDecodeAfterStep() {
        return listener != null && (step + 1) % decodeEvery == 0;
    }

    void partialDecode(int[][] tokens) {
        listener.onPartialDecode(step + 1, tokens);
    }

    void advance() {
        step++;
    }

    void finish(int[][] tokens) {
        result = tokens;
        Arrays.fill(selfCond, 0f); // nothing reads it again; the rows' memory goes with the trajectory
    }
}

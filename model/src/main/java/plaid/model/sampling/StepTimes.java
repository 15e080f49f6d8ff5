package plaid.model.sampling;

import java.util.Locale;

/**
 * Where a {@link SamplerBatch}'s steps spent their wall-clock time, summed over steps: the host's parts and
 * the waits for the device. On a device backend {@code reconstWait} holds the forward the host waits for; on
 * the CPU backend the forward runs inside {@code queue}.
 *
 * @param steps        calls of {@link SamplerBatch#step}
 * @param rebuild      lanes' model calls built (their activations allocated) as their rows changed
 * @param queue        z and x_sc cast to float32, the uploads and the forward queued
 * @param noise        the ancestral noise draws (while a device runs the forward)
 * @param reconstWait  x̂ downloaded: the wait for the forward
 * @param guidance     guidance's backward and its download
 * @param argmax       the argmax of the rows that decode or finish, and its slicing
 * @param listeners    partial-decode listeners, on the stepping thread
 * @param update       x̂ into self-conditioning and the float64 update of z
 */
public record StepTimes(
        long steps,
        long rebuild,
        long queue,
        long noise,
        long reconstWait,
        long guidance,
        long argmax,
        long listeners,
        long update) {
    static final StepTimes ZERO = new StepTimes(0, 0, 0, 0, 0, 0, 0, 0, 0);

    StepTimes plus(StepTimes o) {
        return new StepTimes(
                steps + o.steps,
                rebuild + o.rebuild,
                queue + o.queue,
                noise + o.noise,
                reconstWait + o.reconstWait,
                guidance + o.guidance,
                argmax + o.argmax,
                listeners + o.listeners,
                update + o.update);
    }

    /** The times since {@code earlier} (a snapshot of the same batch's). */
    public StepTimes since(StepTimes earlier) {
        return new StepTimes(
                steps - earlier.steps,
                rebuild - earlier.rebuild,
                queue - earlier.queue,
                noise - earlier.noise,
                reconstWait - earlier.reconstWait,
                guidance - earlier.guidance,
                argmax - earlier.argmax,
                listeners - earlier.listeners,
                update - earlier.update);
    }

    /** Milliseconds a step of each part, e.g. for a benchmark's printout. */
    public String perStep() {
        double n = Math.max(1, steps) * 1e6;
        return String.format(
                Locale.ROOT,
                "call rebuilds %.2f, queue %.2f, noise %.2f, wait for x̂ %.2f, guidance %.2f, argmax %.2f, listeners %.2f, update %.2f"
                        + " ms a step",
                rebuild / n,
                queue / n,
                noise / n,
                reconstWait / n,
                guidance / n,
                argmax / n,
                listeners / n,
                update / n);
    }
}

package plaid.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The bookkeeping of a recorded step that needs no GPU: a {@link StepTrace} replays only the work it recorded,
 * and {@link StepCapture} tells the launcher and the memory what a capture, a replay and a measured run allow,
 * on the step's thread only.
 */
class StepTraceTest {
    @Test
    void aReplayPassesOnlyTheRecordedNumbersInTheirOrder() {
        StepTrace trace = new StepTrace();
        trace.put(StepTrace.LAUNCH | 3);
        trace.putAll(new long[] {7, 8});
        assertThat(trace.recorded(4096)).isEqualTo(4096);
        for (int i = 0; i < 5000; i++) trace.put(i); // beyond the first buffer

        trace.rewind();
        assertThat(trace.replaying()).isTrue();
        trace.put(StepTrace.LAUNCH | 3);
        trace.putAll(new long[] {7, 8});
        assertThat(trace.recorded(0))
                .as("the recorded choice, not the caller's")
                .isEqualTo(4096);
        for (int i = 0; i < 5000; i++) trace.put(i);
        trace.requireComplete();

        trace.rewind();
        trace.put(StepTrace.LAUNCH | 3);
        assertThatThrownBy(() -> trace.putAll(new long[] {7, 9}))
                .isInstanceOf(StepCapture.Stale.class)
                .hasMessageContaining("differs from its recording");
        trace.rewind();
        trace.put(StepTrace.LAUNCH | 3);
        assertThatThrownBy(trace::requireComplete)
                .isInstanceOf(StepCapture.Stale.class)
                .hasMessageContaining("less work");
        trace.rewind();
        trace.put(StepTrace.LAUNCH | 3);
        trace.putAll(new long[] {7, 8});
        trace.recorded(0);
        for (int i = 0; i < 5000; i++) trace.put(i);
        assertThatThrownBy(() -> trace.put(1))
                .isInstanceOf(StepCapture.Stale.class)
                .hasMessageContaining("more work");
    }

    @Test
    void aCaptureRefusesWhatAGraphCannotHoldAndAReplayFindsItStale() {
        StepCapture steps = new StepCapture();
        steps.refuse("allocates device memory"); // outside a step: allowed
        assertThat(steps.active()).isFalse();

        steps.begin(StepCapture.Mode.CAPTURE, new StepTrace(), null);
        assertThat(steps.recording()).isTrue();
        assertThat(steps.replaying()).isFalse();
        assertThatThrownBy(() -> steps.refuse("allocates device memory"))
                .isInstanceOf(StepCapture.Unsupported.class)
                .hasMessageContaining("allocates device memory");
        assertThatThrownBy(() -> steps.beforeStep(() -> 1)).isInstanceOf(StepCapture.Unsupported.class);
        assertThatThrownBy(() -> steps.begin(StepCapture.Mode.REPLAY, new StepTrace(), null))
                .isInstanceOf(IllegalStateException.class);
        steps.end();

        StepTrace recorded = new StepTrace();
        recorded.rewind();
        steps.begin(StepCapture.Mode.REPLAY, recorded, null);
        assertThat(steps.replaying()).isTrue();
        assertThatThrownBy(() -> steps.refuse("reads a tensor back to the host"))
                .isInstanceOf(StepCapture.Stale.class);
        // work ahead of the step runs for real inside a replay: nothing is traced or refused meanwhile
        long made = steps.beforeStep(() -> {
            assertThat(steps.recording()).isFalse();
            steps.refuse("allocates device memory");
            return 42;
        });
        assertThat(made).isEqualTo(42);
        assertThat(steps.replaying()).as("replaying again afterwards").isTrue();
        steps.end();
        assertThat(steps.recording()).isFalse();
    }

    @Test
    void aMeasuredRunCountsItsHostDataAndOtherThreadsAreNotAffected() throws InterruptedException {
        StepCapture steps = new StepCapture();
        steps.begin(StepCapture.Mode.MEASURE, null, null);
        assertThat(steps.recording()).isFalse();
        assertThat(steps.active()).isTrue();
        steps.measure(4);
        steps.measure(StepArena.ALIGNMENT + 1);
        assertThat(steps.measured()).isEqualTo(3 * StepArena.ALIGNMENT);
        steps.end();

        steps.begin(StepCapture.Mode.CAPTURE, new StepTrace(), null);
        AtomicBoolean elsewhere = new AtomicBoolean(true);
        Thread other = new Thread(() -> {
            elsewhere.set(steps.recording() || steps.active());
            steps.refuse("frees device memory"); // the cleaner's frees are not the step's
        });
        other.start();
        other.join();
        steps.end();
        assertThat(elsewhere).as("another thread sees a step").isFalse();
    }

    @Test
    void piecesOfTheArenaAreAlignedAsDeviceAllocations() {
        assertThat(StepArena.footprint(0)).isEqualTo(StepArena.ALIGNMENT);
        assertThat(StepArena.footprint(StepArena.ALIGNMENT)).isEqualTo(StepArena.ALIGNMENT);
        assertThat(StepArena.footprint(512 * 1024 + 3)).isEqualTo(512 * 1024 + StepArena.ALIGNMENT);
    }
}

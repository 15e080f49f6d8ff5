package plaid.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The bookkeeping of a recorded step that needs no GPU: a {@link StepTrace} replays only the work it recorded,
 * {@link StepCapture} tells the launcher and the memory what a capture, a replay and a measured run allow,
 * on the step's thread only, and a broken capture names the operation that broke it.
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
    void aBrokenCaptureNamesTheFirstOperationThatBrokeIt() {
        int active = plaid.backend.cuda.bind.CudaGraphs.CAPTURE_STATUS_ACTIVE;
        int invalidated = plaid.backend.cuda.bind.CudaGraphs.CAPTURE_STATUS_INVALIDATED;
        assertThat(StepCapture.breakage("cuLaunchKernel(gelu)", 0, null, active, "cublasGemmEx 192×384×16"))
                .as("the capture holds")
                .isNull();
        // a library call that reports success but leaves the capture broken is the culprit
        assertThat(StepCapture.breakage("cublasGemmEx 192×384×16", 0, null, invalidated, "the upload"))
                .startsWith("cublasGemmEx 192×384×16 reported success but broke the capture")
                .contains("the operation before it: the upload");
        // a call that finds it already broken blames the latest call after which it held, not itself
        assertThat(StepCapture.breakage("the upload (cuMemcpyDtoDAsync_v2)", 901, "…", invalidated, "cublasGemmEx"))
                .startsWith("the capture was already broken when the upload (cuMemcpyDtoDAsync_v2) was queued")
                .contains("it broke after cublasGemmEx, which reported success");
        assertThat(StepCapture.breakage("the upload", 901, "…", invalidated, null))
                .contains("it broke after the start of the capture");
        assertThat(StepCapture.breakage("cuLaunchKernel(gelu)", 900, "not permitted", invalidated, "a copy"))
                .isEqualTo(
                        "cuLaunchKernel(gelu) failed in the capture (the operation before it: a copy): not permitted");
        assertThat(StepCapture.breakage("a fill", 0, null, -999, "a copy")).contains("cuStreamIsCapturing failed");
    }

    @Test
    void aLibraryCallThatFailsInACaptureEndsItNamingTheCall() {
        StepCapture steps = new StepCapture();
        Runnable failing = () -> {
            throw new CudaException("cublasGemmEx failed with cublasStatus_t 13");
        };
        // outside a capture the call's own exception goes through
        assertThatThrownBy(() -> steps.library(failing, () -> "cublasGemmEx 3×384×64", null))
                .isInstanceOf(CudaException.class);
        AtomicBoolean ran = new AtomicBoolean();
        steps.library(() -> ran.set(true), () -> "unused", null);
        assertThat(ran).isTrue();

        steps.begin(StepCapture.Mode.CAPTURE, new StepTrace(), null);
        assertThat(steps.capturing()).isTrue();
        assertThatThrownBy(() -> steps.library(failing, () -> "cublasGemmEx 3×384×64", null))
                .isInstanceOf(StepCapture.Unsupported.class)
                .hasMessage("cublasGemmEx 3×384×64 failed in the capture (the operation before it: the start of the"
                        + " capture): cublasGemmEx failed with cublasStatus_t 13");
        steps.end();
        steps.begin(StepCapture.Mode.MEASURE, null, null);
        assertThat(steps.capturing()).as("a measured direct run").isFalse();
        steps.end();
    }

    @Test
    void piecesOfTheArenaAreAlignedAsDeviceAllocations() {
        assertThat(StepArena.footprint(0)).isEqualTo(StepArena.ALIGNMENT);
        assertThat(StepArena.footprint(StepArena.ALIGNMENT)).isEqualTo(StepArena.ALIGNMENT);
        assertThat(StepArena.footprint(512 * 1024 + 3)).isEqualTo(512 * 1024 + StepArena.ALIGNMENT);
    }
}

package plaid.sampler;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import plaid.model.sampling.SamplingRequest;

/** A request's events leave the device thread for the event threads, in order; a failing one stops the rest. */
class GenerationEventsTest {
    private final ExecutorService threads = Executors.newFixedThreadPool(4);

    @AfterEach
    void close() {
        threads.shutdownNow();
    }

    private GenerationJob job() {
        GenerationJob job = new GenerationJob(null, SamplingRequest.defaults(8).withSamples(1), 0, 1, 1, false, null);
        job.sendEventsOn(threads);
        return job;
    }

    @Test
    void eventsRunInTheOrderSentOffTheSendingThread() throws InterruptedException {
        List<Integer> seen = new CopyOnWriteArrayList<>();
        List<Thread> on = new CopyOnWriteArrayList<>();
        GenerationJob job = job();
        CountDownLatch done = new CountDownLatch(1);
        for (int i = 0; i < 200; i++) {
            int event = i;
            job.send(() -> {
                seen.add(event);
                on.add(Thread.currentThread());
            });
        }
        job.send(done::countDown);
        assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(seen).hasSize(200).isSorted();
        assertThat(on).doesNotContain(Thread.currentThread());
        assertThat(job.eventsFailed()).isNull();
    }

    @Test
    void aFailedEventDropsTheLaterOnesAndIsReported() throws InterruptedException {
        List<Integer> seen = new CopyOnWriteArrayList<>();
        GenerationJob job = job();
        for (int i = 0; i < 10; i++) {
            int event = i;
            job.send(() -> {
                if (event == 4) throw new IllegalStateException("stream broke");
                seen.add(event);
            });
        }
        CountDownLatch reported = new CountDownLatch(1);
        job.afterEvents(failure -> reported.countDown());
        assertThat(reported.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(job.eventsFailed()).hasMessageContaining("stream broke");
        Thread.sleep(50);
        assertThat(seen).containsExactly(0, 1, 2, 3);
    }
}

package plaid.sampler;

import io.grpc.Status;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The one thread that runs models, with a bounded queue of calls waiting for it. One at a
 * time because a sampler run already fills the device (and DiffusionSampler is not
 * thread-safe); bounded so that a burst of calls is refused at once instead of waiting
 * without end.
 */
@ApplicationScoped
public class DeviceQueue {
    private final int capacity;
    private final ThreadPoolExecutor worker;

    DeviceQueue(SamplerServiceConfig config) {
        this.capacity = config.limits().queueCapacity();
        this.worker = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(capacity),
                Thread.ofPlatform().name("sampler-device").daemon().factory());
    }

    /** Queues {@code work}; RESOURCE_EXHAUSTED when the queue is full. */
    void submit(Runnable work) {
        try {
            worker.execute(work);
        } catch (RejectedExecutionException e) {
            throw Status.RESOURCE_EXHAUSTED.withDescription("the device queue is full (" + capacity
                    + " calls waiting, sampler-svc.limits.queue-capacity)").asRuntimeException();
        }
    }

    @PreDestroy
    void stop() {
        worker.shutdownNow();
    }
}

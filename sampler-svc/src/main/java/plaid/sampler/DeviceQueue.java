package plaid.sampler;

import io.grpc.Status;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.function.Predicate;

/**
 * The one thread that runs models, with a bounded queue of calls waiting for it. One run at
 * a time because a sampler run already fills the device (and DiffusionSampler is not
 * thread-safe); bounded so that a burst of calls is refused at once instead of waiting
 * without end. A run may take waiting calls along ({@link #takeWaiting}) to share its batch.
 */
@ApplicationScoped
public class DeviceQueue {
    private static final Logger LOG = Logger.getLogger(DeviceQueue.class);

    private final BlockingQueue<Runnable> waiting;
    private final Thread worker;

    DeviceQueue(SamplerServiceConfig config, MeterRegistry meters) {
        this.waiting = new ArrayBlockingQueue<>(config.limits().queueCapacity());
        Gauge.builder("plaid.sampler.queue.depth", waiting, BlockingQueue::size)
                .description("Generate and Score calls waiting for the device, not counting the one running").register(meters);
        this.worker = Thread.ofPlatform().name("sampler-device").daemon().start(this::work);
    }

    /** Queues {@code work}; RESOURCE_EXHAUSTED when the queue is full. */
    void submit(Runnable work) {
        if (!waiting.offer(work))
            throw Status.RESOURCE_EXHAUSTED.withDescription("the device queue is full (" + waiting.size()
                    + " calls waiting, sampler-svc.limits.queue-capacity)").asRuntimeException();
    }

    /** Calls waiting now, not counting the one running. */
    int waiting() {
        return waiting.size();
    }

    /**
     * Removes the waiting works of {@code type} that {@code joins} accepts, in queue order;
     * {@code joins} sees them one by one and may keep state (a budget). Only the device
     * thread calls this, so what it removes cannot have started.
     */
    <T extends Runnable> List<T> takeWaiting(Class<T> type, Predicate<T> joins) {
        List<T> taken = new ArrayList<>();
        for (Iterator<Runnable> it = waiting.iterator(); it.hasNext(); ) {
            Runnable work = it.next();
            if (type.isInstance(work) && joins.test(type.cast(work))) {
                it.remove();
                taken.add(type.cast(work));
            }
        }
        return taken;
    }

    private void work() {
        while (!Thread.currentThread().isInterrupted()) {
            Runnable work;
            try {
                work = waiting.take();
            } catch (InterruptedException e) {
                return;
            }
            try {
                work.run();
            } catch (RuntimeException e) {
                LOG.error("device work failed", e);
            }
        }
    }

    @PreDestroy
    void stop() {
        worker.interrupt();
    }
}

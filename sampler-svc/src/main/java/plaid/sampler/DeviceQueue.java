package plaid.sampler;

import io.grpc.Status;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import org.jboss.logging.Logger;

/**
 * The one thread that runs models: whole works (a Score) from a bounded queue, and between
 * them the generation engine's steps ({@link Stepper}), so a Score waits at most a few steps
 * and generation never waits for more than one Score. One thread because a model step
 * already fills the device and the samplers are not thread-safe; bounded so that a burst of
 * calls is refused at once instead of waiting without end.
 */
@ApplicationScoped
public class DeviceQueue {
    private static final Logger LOG = Logger.getLogger(DeviceQueue.class);

    /** The generation engine as the device thread sees it. */
    interface Stepper {
        boolean hasWork();

        /** Runs some steps, stopping early once {@code otherWorkWaits} says so. */
        void runSlice(BooleanSupplier otherWorkWaits);

        /** Requests waiting to run. */
        int waiting();
    }

    private final BlockingQueue<Runnable> waiting;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition workArrived = lock.newCondition();
    private boolean woken;
    private volatile Stepper stepper;
    private final Thread worker;

    DeviceQueue(SamplerServiceConfig config, MeterRegistry meters) {
        this.waiting = new ArrayBlockingQueue<>(config.limits().queueCapacity());
        Gauge.builder("plaid.sampler.queue.depth", this, DeviceQueue::depth)
                .description("Generate and Score calls waiting for the device, not counting those running")
                .register(meters);
        this.worker = Thread.ofPlatform().name("sampler-device").daemon().start(this::work);
    }

    /** Has the device thread step {@code engine} between whole works. */
    void serve(Stepper engine) {
        this.stepper = engine;
        wake();
    }

    /** Queues {@code work}; RESOURCE_EXHAUSTED when the queue is full. */
    void submit(Runnable work) {
        if (!waiting.offer(work))
            throw Status.RESOURCE_EXHAUSTED
                    .withDescription("the device queue is full (" + waiting.size()
                            + " calls waiting, sampler-svc.limits.queue-capacity)")
                    .asRuntimeException();
        wake();
    }

    /** Tells the device thread that there is work. */
    void wake() {
        lock.lock();
        try {
            woken = true;
            workArrived.signal();
        } finally {
            lock.unlock();
        }
    }

    /** Whole works (Score calls) waiting now, not counting the one running. */
    int waiting() {
        return waiting.size();
    }

    private double depth() {
        Stepper engine = stepper;
        return waiting.size() + (engine == null ? 0 : engine.waiting());
    }

    private void work() {
        while (!Thread.currentThread().isInterrupted()) {
            Runnable work = waiting.poll();
            Stepper engine = stepper;
            try {
                if (work != null) work.run();
                else if (engine != null && engine.hasWork()) engine.runSlice(() -> !waiting.isEmpty());
                else awaitWork();
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException | Error e) {
                LOG.error("device work failed", e);
            }
        }
    }

    private void awaitWork() throws InterruptedException {
        lock.lock();
        try {
            while (!woken) workArrived.await();
            woken = false;
        } finally {
            lock.unlock();
        }
    }

    @PreDestroy
    void stop() {
        worker.interrupt();
    }
}

package plaid.sampler;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.jboss.logging.Logger;
import plaid.model.sampling.SamplerBatch;
import plaid.model.sampling.Trajectory;
import plaid.service.Replies;

/**
 * Step-level continuous batching: one running batch per loaded model, stepped on the device
 * thread. At every step boundary the requests whose clients left (cancelled, deadline passed)
 * leave, finished ones have streamed their texts, and admitted requests join whatever their
 * settings. Admission is by each model's row budget (rows × seq_len, {@code batching.max-batch-tokens}),
 * first come first served: a request that does not fit waits in a bounded queue
 * ({@code limits.queue-capacity}, RESOURCE_EXHAUSTED beyond) and holds back those behind it.
 * With {@code batching.join=false} requests join only a batch that has emptied (run at a time).
 */
@Startup // its meters are on /q/metrics before the first request
@ApplicationScoped
public class GenerationScheduler implements DeviceQueue.Stepper {
    private static final Logger LOG = Logger.getLogger(GenerationScheduler.class);
    /** Steps of one model run inside one backend session before the device thread looks at other work. */
    private static final int SLICE_STEPS = 16;

    private final long budget;
    private volatile boolean join;
    private final int queueCapacity;
    private final EngineMetrics metrics;
    private final DeviceQueue device;
    /** The models' batches with work, in the order they get turns; guarded by this. */
    private final Map<LoadedModel, ModelBatch> batches = new IdentityHashMap<>();

    private final Deque<ModelBatch> turns = new ArrayDeque<>();
    /** Requests queued beyond the budgets, all models together; guarded by this. */
    private int queued;
    /** The batch the device thread steps now, out of {@link #turns}; guarded by this. */
    private ModelBatch current;

    /**
     * Detokenize and send the requests' events, so the device thread steps on meanwhile (a partial decode of
     * every row every step costs the host about as much as a small model's step); each request's in order.
     */
    private final ExecutorService eventThreads = Executors.newFixedThreadPool(
            Math.max(2, Runtime.getRuntime().availableProcessors() / 4),
            Thread.ofPlatform().name("generation-events-", 0).daemon().factory());

    private final AtomicLong joinedRequests = new AtomicLong();
    /** A fault for the next step of one model's batch, as a device error would raise (tests); null: none. */
    private volatile Map.Entry<String, RuntimeException> injectedFault;

    GenerationScheduler(SamplerServiceConfig config, EngineMetrics metrics, DeviceQueue device, MeterRegistry meters) {
        this.budget = config.batching().maxBatchTokens();
        this.join = config.batching().join();
        this.queueCapacity = config.limits().queueCapacity();
        this.metrics = metrics;
        this.device = device;
        FunctionCounter.builder("plaid.sampler.generate.joined", joinedRequests, AtomicLong::get)
                .description("Generate requests that joined a batch already running")
                .register(meters);
        device.serve(this);
    }

    @PreDestroy
    void close() {
        eventThreads.shutdown();
    }

    /** Switches joining a running batch on or off, as {@code batching.join} does at start (the load benchmark compares both in one run). */
    void joining(boolean on) {
        join = on;
    }

    /** The model's row budget in tokens (rows × seq_len). */
    long budget() {
        return budget;
    }

    /** Admits {@code job} or queues it; RESOURCE_EXHAUSTED when the queue is full. */
    void submit(GenerationJob job) {
        job.sendEventsOn(eventThreads);
        synchronized (this) {
            ModelBatch batch = batches.computeIfAbsent(job.model, ModelBatch::new);
            if (batch.blocked.isEmpty() && batch.reserved + job.tokens() <= budget) {
                batch.admitted.add(job);
                batch.reserved += job.tokens();
            } else if (queued < queueCapacity) {
                batch.blocked.add(job);
                queued++;
            } else {
                if (batch.idle() && batch != current) batches.remove(job.model);
                throw Status.RESOURCE_EXHAUSTED
                        .withDescription("the generation queue is full (" + queued
                                + " requests wait beyond the batch budgets, sampler-svc.limits.queue-capacity)")
                        .asRuntimeException();
            }
            if (batch != current && !turns.contains(batch)) turns.add(batch);
            metrics.waiting.incrementAndGet();
        }
        device.wake();
    }

    /** Requests admitted or queued, not yet running. */
    @Override
    public int waiting() {
        return metrics.waiting.get();
    }

    /** Requests that have joined a batch already running since the start, for logs and tests. */
    long joinedRequests() {
        return joinedRequests.get();
    }

    /** Makes the next step of model {@code name}'s batch fail with {@code fault}, as a device error would (tests). */
    void failNextStep(String name, RuntimeException fault) {
        injectedFault = Map.entry(name, fault);
    }

    @Override
    public synchronized boolean hasWork() {
        return !turns.isEmpty() || current != null;
    }

    @Override
    public void runSlice(BooleanSupplier otherWorkWaits) {
        ModelBatch batch;
        synchronized (this) {
            batch = current = turns.poll();
            if (batch == null) return;
        }
        try {
            batch.runSlice(() -> otherWorkWaits.getAsBoolean() || hasOtherTurns());
        } finally {
            synchronized (this) {
                current = null;
                if (batch.idle()) batches.remove(batch.model);
                else if (!turns.contains(batch)) turns.add(batch);
            }
        }
    }

    private synchronized boolean hasOtherTurns() {
        return !turns.isEmpty();
    }

    /** One model's running batch, its admitted requests and its queue beyond the budget. */
    private final class ModelBatch {
        final LoadedModel model;
        /** Guarded by the scheduler: admitted within the budget, to join at the next boundary. */
        final Deque<GenerationJob> admitted = new ArrayDeque<>();
        /** Guarded by the scheduler: beyond the budget, first come first served. */
        final Deque<GenerationJob> blocked = new ArrayDeque<>();
        /** Guarded by the scheduler: tokens of the running and admitted requests. */
        long reserved;
        /** The device thread's own. */
        final List<GenerationJob> running = new ArrayList<>();

        volatile boolean anyRunning;
        private SamplerBatch sampler;

        ModelBatch(LoadedModel model) {
            this.model = model;
        }

        /** Guarded by the scheduler. */
        boolean idle() {
            return admitted.isEmpty() && blocked.isEmpty() && !anyRunning;
        }

        void runSlice(BooleanSupplier yield) {
            try {
                if (sampler == null) {
                    sampler = new SamplerBatch(model.config(), model.parameters(), model.maxSeqLen());
                    sampler.serveWithin(budget);
                }
            } catch (RuntimeException | OutOfMemoryError e) {
                // the batch cannot even start: those about to join it fail, rather than retrying without end
                fail(e, drainAdmitted());
                return;
            }
            try {
                sampler.session(() -> {
                    for (int i = 0; i < SLICE_STEPS && step(); i++) if (yield.getAsBoolean()) break;
                    return null;
                });
            } catch (RuntimeException | OutOfMemoryError e) {
                fail(e, running);
                running.clear();
                anyRunning = false;
                sampler = null;
            }
        }

        private List<GenerationJob> drainAdmitted() {
            synchronized (GenerationScheduler.this) {
                List<GenerationJob> jobs = new ArrayList<>(admitted);
                admitted.clear();
                metrics.waiting.addAndGet(-jobs.size());
                return jobs;
            }
        }

        /** One boundary and one step; false when nothing ran. */
        private boolean step() {
            admit();
            for (Iterator<GenerationJob> it = running.iterator(); it.hasNext(); ) {
                GenerationJob job = it.next();
                Throwable broken = job.eventsFailed();
                if (broken != null) {
                    // its client's stream broke: only this request leaves
                    LOG.warnf(broken, "sending a generation's events failed; it leaves the batch");
                    it.remove();
                    leave(job, GenerationSink.FinishReason.ERROR);
                    continue;
                }
                GenerationSink.FinishReason left = job.sink.left();
                if (left == null) continue;
                it.remove();
                leave(job, left);
                LOG.debugf(
                        "a generation with model '%s' left at step %d: %s",
                        model.name(), job.trajectory().stepsDone(), left.label());
            }
            anyRunning = !running.isEmpty();
            if (running.isEmpty()) return false;
            Map.Entry<String, RuntimeException> fault = injectedFault;
            if (fault != null && fault.getKey().equals(model.name())) {
                injectedFault = null;
                throw fault.getValue();
            }
            List<Trajectory> trajectories = new ArrayList<>(running.size());
            int rows = 0;
            for (GenerationJob job : running) {
                trajectories.add(job.trajectory());
                rows += job.rows();
            }
            sampler.step(trajectories);
            metrics.step(rows);
            for (Iterator<GenerationJob> it = running.iterator(); it.hasNext(); ) {
                GenerationJob job = it.next();
                long first = job.afterStep();
                if (first >= 0) metrics.firstPartial(first);
                if (job.trajectory().finished()) {
                    it.remove();
                    job.afterEvents(broken -> LOG.warnf(broken, "sending a finished generation's texts failed"));
                    leave(job, GenerationSink.FinishReason.DONE);
                }
            }
            anyRunning = !running.isEmpty();
            return true;
        }

        /** Admitted requests join the running batch; with joining off only an empty one. */
        private void admit() {
            List<GenerationJob> joining = new ArrayList<>();
            List<GenerationJob> gone = new ArrayList<>();
            synchronized (GenerationScheduler.this) {
                // clients that left while queued give their place up now, not when their turn comes
                for (Iterator<GenerationJob> it = blocked.iterator(); it.hasNext(); ) {
                    GenerationJob job = it.next();
                    if (job.sink.left() == null) continue;
                    it.remove();
                    queued--;
                    reserved += job.tokens(); // released again by leave
                    gone.add(job);
                }
                if (join || running.isEmpty()) {
                    joining.addAll(admitted);
                    admitted.clear();
                }
            }
            for (GenerationJob job : gone) {
                metrics.waiting.decrementAndGet();
                leave(job, job.sink.left());
            }
            for (GenerationJob job : joining) {
                metrics.waiting.decrementAndGet();
                GenerationSink.FinishReason left = job.sink.left();
                if (left != null) {
                    leave(job, left);
                    continue;
                }
                metrics.queued(System.nanoTime() - job.arrivalNanos);
                if (!running.isEmpty()) joinedRequests.incrementAndGet();
                try {
                    job.begin(sampler);
                } catch (RuntimeException e) {
                    job.send(() -> job.sink.fail(Replies.status(e)));
                    leave(job, GenerationSink.FinishReason.ERROR);
                    continue;
                }
                running.add(job);
                metrics.running.incrementAndGet();
                metrics.rows.addAndGet(job.rows());
            }
            anyRunning = !running.isEmpty();
        }

        /** A device error: each of {@code jobs} (the batch's requests) fails with it; the batch starts afresh for those that come next. */
        private void fail(Throwable e, List<GenerationJob> jobs) {
            LOG.errorf(
                    e,
                    "generation with model '%s' failed; failing the %d requests of its batch",
                    model.name(),
                    jobs.size());
            StatusRuntimeException status = e instanceof RuntimeException failure
                    ? DeviceErrors.status(failure, "generation failed")
                    : Status.RESOURCE_EXHAUSTED
                            .withDescription("generation failed: " + e)
                            .asRuntimeException();
            for (GenerationJob job : jobs) {
                job.send(() -> job.sink.fail(status));
                leave(job, GenerationSink.FinishReason.ERROR);
            }
        }

        /** Its rows are out of the batch: the budget they held goes to those waiting, first come first served. */
        private void leave(GenerationJob job, GenerationSink.FinishReason reason) {
            if (job.trajectory() != null) {
                metrics.running.decrementAndGet();
                metrics.rows.addAndGet(-job.rows());
            }
            metrics.finished(reason, System.nanoTime() - job.arrivalNanos);
            synchronized (GenerationScheduler.this) {
                reserved -= job.tokens();
                while (!blocked.isEmpty() && reserved + blocked.peek().tokens() <= budget) {
                    GenerationJob next = blocked.poll();
                    queued--;
                    admitted.add(next);
                    reserved += next.tokens();
                }
            }
        }
    }
}

package plaid.data;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jboss.logging.Logger;
import plaid.service.InvalidArgument;
import plaid.text.BpeTokenizer;
import plaid.text.CorpusDirectory;
import plaid.text.TokenStream;
import plaid.v1.StreamBatchesRequest;
import plaid.v1.TokenBatch;

/**
 * StreamBatches: a {@link TokenStream} per call, driven by a virtual thread that makes the
 * next batch only when the call is ready to send it. gRPC's flow control thus reaches back
 * to the tokenizer: a slow trainer slows the stream instead of filling memory. A stream
 * stops when its client leaves (cancel or deadline) and when the service shuts down.
 */
@ApplicationScoped
public class BatchStreaming {
    private static final Logger LOG = Logger.getLogger(BatchStreaming.class);

    private final Datasets datasets;
    private final DataServiceConfig config;
    private final InFlightWork inFlight;
    private final Semaphore streamSlots;

    BatchStreaming(Datasets datasets, DataServiceConfig config, InFlightWork inFlight) {
        this.datasets = datasets;
        this.inFlight = inFlight;
        this.config = config;
        this.streamSlots = new Semaphore(config.limits().maxConcurrentStreams());
    }

    /** Checks the request, then streams on a virtual thread; must be called on the call's own thread. */
    public void start(StreamBatchesRequest request, ServerCallStreamObserver<TokenBatch> call) {
        Opened opened = open(request);
        TokenStream stream = TokenStream.start(corpusTokenizer(opened.corpus()), opened.config());
        if (!streamSlots.tryAcquire())
            throw Status.RESOURCE_EXHAUSTED
                    .withDescription("already " + config.limits().maxConcurrentStreams() + " streams running")
                    .asRuntimeException();
        Readiness readiness = new Readiness(call);
        call.setOnReadyHandler(readiness::signal);
        call.setOnCancelHandler(readiness::cancel);
        InFlightWork.Registration stopAtShutdown = inFlight.register(readiness::stop);
        Thread.ofVirtual().name("stream-batches-" + request.getCorpus()).start(() -> {
            try (stopAtShutdown) {
                send(stream, request, readiness, call);
            } finally {
                streamSlots.release();
            }
        });
    }

    /** The corpus's own tokenizer: the one its documents are read with wherever they are read. */
    private static BpeTokenizer corpusTokenizer(CorpusDirectory corpus) {
        try {
            return corpus.tokenizer();
        } catch (IOException | RuntimeException e) {
            LOG.errorf(e, "cannot load the tokenizer of corpus %s", corpus.folder());
            throw Status.FAILED_PRECONDITION
                    .withDescription("cannot load the tokenizer of corpus '"
                            + corpus.folder().getFileName() + "' (see the service's log)")
                    .asRuntimeException();
        }
    }

    private record Opened(CorpusDirectory corpus, TokenStream.Config config) {}

    /** Checks the request's numbers, then finds the corpus (so a bad field is named before a missing corpus). */
    private Opened open(StreamBatchesRequest request) {
        DataServiceConfig.Limits limits = config.limits();
        InvalidArgument.requireInRange(request.getSeqLen(), 2, limits.maxSeqLen(), "seq_len");
        InvalidArgument.requireInRange(request.getBatchSize(), 1, limits.maxBatchSize(), "batch_size");
        InvalidArgument.require(
                (long) request.getBatchSize() * request.getSeqLen() <= limits.maxBatchTokens(),
                "batch_size",
                "* seq_len must be <= " + limits.maxBatchTokens() + ", got "
                        + (long) request.getBatchSize() * request.getSeqLen());
        InvalidArgument.requireInRange(request.getWorldSize(), 1, limits.maxWorldSize(), "world_size");
        InvalidArgument.require(
                request.getRank() >= 0 && request.getRank() < request.getWorldSize(),
                "rank",
                "must be in [0, world_size = " + request.getWorldSize() + "), got " + request.getRank());
        InvalidArgument.require(request.getStartBatch() >= 0, "start_batch", "must be < 2^63");
        InvalidArgument.require(request.getMaxBatches() >= 0, "max_batches", "must be < 2^63");
        InvalidArgument.requireInRange(
                request.getShuffleBufferChunks(), 0, limits.maxShuffleBufferChunks(), "shuffle_buffer_chunks");
        int shuffleChunks = request.getShuffleBufferChunks() == 0
                ? config.defaultShuffleBufferChunks()
                : request.getShuffleBufferChunks();
        CorpusDirectory corpus = datasets.corpus(request.getCorpus(), "corpus");
        CorpusDirectory.Split split = switch (request.getSplit()) {
            case SPLIT_VALIDATION -> CorpusDirectory.Split.VALIDATION;
            case SPLIT_TRAIN, SPLIT_UNSPECIFIED -> CorpusDirectory.Split.TRAIN;
            case UNRECOGNIZED -> throw InvalidArgument.of("split", "is not a known split");
        };
        try {
            return new Opened(
                    corpus,
                    corpus.stream(
                            split,
                            request.getSeqLen(),
                            request.getBatchSize(),
                            shuffleChunks,
                            request.getSeed(),
                            request.getRank(),
                            request.getWorldSize()));
        } catch (IllegalArgumentException e) {
            // The checks above leave only the division of the shards among the ranks.
            throw InvalidArgument.of("world_size", "does not fit the corpus: " + e.getMessage());
        }
    }

    private static void send(
            TokenStream stream,
            StreamBatchesRequest request,
            Readiness readiness,
            ServerCallStreamObserver<TokenBatch> call) {
        try {
            for (long skipped = 0; skipped < request.getStartBatch(); skipped++) {
                if (readiness.ended()) throw new CancellationException();
                stream.nextBatch(readiness::ended);
            }
            long end =
                    request.getMaxBatches() == 0 ? Long.MAX_VALUE : request.getStartBatch() + request.getMaxBatches();
            for (long index = request.getStartBatch(); index < end; index++) {
                if (!readiness.awaitReady()) throw new CancellationException();
                call.onNext(batch(index, stream.nextBatch(readiness::ended), request));
            }
            call.onCompleted();
        } catch (CancellationException e) {
            // A client that left hears nothing more; one still there learns that the service is going.
            if (readiness.stopping())
                call.onError(Status.UNAVAILABLE
                        .withDescription("data-svc is shutting down; resume from the next batch")
                        .asRuntimeException());
        } catch (RuntimeException e) {
            LOG.errorf(e, "stream of corpus '%s' failed", request.getCorpus());
            call.onError(Status.INTERNAL.withDescription("stream failed: " + e).asRuntimeException());
        }
    }

    private static TokenBatch batch(long index, int[][] rows, StreamBatchesRequest request) {
        TokenBatch.Builder batch = TokenBatch.newBuilder()
                .setIndex(index)
                .setBatchSize(request.getBatchSize())
                .setSeqLen(request.getSeqLen());
        for (int[] row : rows) for (int id : row) batch.addTokens(id);
        return batch.build();
    }

    /** Lets the producing thread sleep until gRPC says the call can take another message, the client leaves, or the service stops. */
    private static final class Readiness {
        private final ServerCallStreamObserver<?> call;
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition changed = lock.newCondition();
        private boolean cancelled, stopping;

        Readiness(ServerCallStreamObserver<?> call) {
            this.call = call;
        }

        void signal() {
            lock.lock();
            try {
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        void cancel() {
            lock.lock();
            try {
                cancelled = true;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        void stop() {
            lock.lock();
            try {
                stopping = true;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        boolean stopping() {
            lock.lock();
            try {
                return stopping;
            } finally {
                lock.unlock();
            }
        }

        /** Whether the client left or the service stops. */
        boolean ended() {
            lock.lock();
            try {
                return cancelled || stopping;
            } finally {
                lock.unlock();
            }
        }

        /** True once the call is ready; false if the client left or the service stops. */
        boolean awaitReady() {
            lock.lock();
            try {
                while (!cancelled && !stopping && !call.isReady()) changed.awaitUninterruptibly();
                return !cancelled && !stopping;
            } finally {
                lock.unlock();
            }
        }
    }
}

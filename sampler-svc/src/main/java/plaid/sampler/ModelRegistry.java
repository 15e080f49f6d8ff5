package plaid.sampler;

import com.google.protobuf.Descriptors.FieldDescriptor;
import io.grpc.Status;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.jboss.logging.Logger;
import plaid.backend.BackendException;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.model.CheckpointDirectory;
import plaid.model.ParameterGroup;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;
import plaid.options.SpecOptions;
import plaid.service.InvalidArgument;
import plaid.tensor.HostTensor;
import plaid.text.BpeTokenizer;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelShape;

/**
 * The loaded models by name, each from a checkpoint folder under the model root
 * ({@link CheckpointDirectory} reads it: the state dicts, config.json, tokenizer.json, the
 * newest step-N of a job's folder); this class decides what a request may load and how many,
 * and unloads a model on request or once no Generate or Score has named it for the configured
 * idle time. An unloaded model's memory is freed once the calls still running on it end.
 */
@ApplicationScoped
public class ModelRegistry {
    private static final Logger LOG = Logger.getLogger(ModelRegistry.class);
    private static final Pattern MODEL_NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    private final ModelRoot root;
    private final SamplerServiceConfig config;
    private final Map<String, LoadedModel> models = new ConcurrentHashMap<>();
    /** When each loaded model was last named by a call, in System.nanoTime(). */
    private final Map<String, Long> lastUsed = new ConcurrentHashMap<>();

    private ComputeBackend backend;
    private ScheduledExecutorService idleSweeper;

    ModelRegistry(ModelRoot root, SamplerServiceConfig config) {
        this.root = root;
        this.config = config;
    }

    @PostConstruct
    void startIdleSweeper() {
        Optional<Duration> idle = config.limits().idleUnload().filter(d -> d.isPositive());
        if (idle.isEmpty()) return;
        long idleNanos = idle.get().toNanos();
        // Often enough that a model goes within a quarter of its idle time after it expired.
        long period = Math.clamp(idleNanos / 4, TimeUnit.MILLISECONDS.toNanos(100), TimeUnit.MINUTES.toNanos(1));
        idleSweeper = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("idle-model-sweeper").daemon().factory());
        idleSweeper.scheduleAtFixedRate(
                () -> unloadIdle(System.nanoTime(), idleNanos), period, period, TimeUnit.NANOSECONDS);
    }

    @PreDestroy
    void stopIdleSweeper() {
        if (idleSweeper != null) idleSweeper.shutdownNow();
    }

    /** The model loaded under {@code name}, or NOT_FOUND naming the field; the call counts as a use. */
    LoadedModel get(String name, String field) {
        LoadedModel model = models.get(name);
        if (model == null) throw notLoaded(name, field);
        lastUsed.put(name, System.nanoTime());
        return model;
    }

    /** Frees the slot of the model loaded under {@code name}; NOT_FOUND naming the field when there is none. */
    synchronized LoadedModel unload(String name, String field) {
        LoadedModel model = models.remove(name);
        if (model == null) throw notLoaded(name, field);
        lastUsed.remove(name);
        LOG.infof("unloaded model '%s' on request", name);
        return model;
    }

    /** Unloads every model no call has named for {@code idleNanos}. */
    synchronized void unloadIdle(long now, long idleNanos) {
        for (Map.Entry<String, Long> use : List.copyOf(lastUsed.entrySet())) {
            if (now - use.getValue() < idleNanos) continue;
            models.remove(use.getKey());
            lastUsed.remove(use.getKey());
            LOG.infof(
                    "unloaded model '%s': unused for %d s (sampler-svc.limits.idle-unload)",
                    use.getKey(), TimeUnit.NANOSECONDS.toSeconds(now - use.getValue()));
        }
    }

    private static RuntimeException notLoaded(String name, String field) {
        return Status.NOT_FOUND
                .withDescription(field + " '" + name + "' is not a loaded model")
                .asRuntimeException();
    }

    List<LoadedModel> list() {
        return models.values().stream()
                .sorted(Comparator.comparing(LoadedModel::name))
                .toList();
    }

    /** Loads are serial: each may take seconds and device memory, and the slot count must hold. */
    synchronized LoadedModel load(LoadModelRequest request) {
        InvalidArgument.require(
                MODEL_NAME.matcher(request.getName()).matches(),
                "name",
                "must be 1-64 characters of [A-Za-z0-9._-], got '" + request.getName() + "'");
        Path requested = root.resolveExisting(request.getCheckpoint(), "checkpoint");
        LoadedModel existing = models.get(request.getName());
        if (existing != null) {
            if (existing.checkpoint().equals(request.getCheckpoint())
                    && existing.useEma() == request.getUseEma()
                    && existing.requestedShape().equals(request.getShape())) {
                lastUsed.put(existing.name(), System.nanoTime());
                return existing;
            }
            throw Status.ALREADY_EXISTS
                    .withDescription("name '" + request.getName() + "' is taken by checkpoint '" + existing.checkpoint()
                            + "'" + (existing.useEma() ? " (EMA weights)" : ""))
                    .asRuntimeException();
        }
        if (models.size() >= config.limits().maxModels())
            throw Status.RESOURCE_EXHAUSTED
                    .withDescription("already " + models.size() + " models loaded (sampler-svc.limits.max-models)")
                    .asRuntimeException();

        PlaidParameters parameters;
        BpeTokenizer tokenizer;
        PlaidConfig shape;
        CheckpointDirectory dir;
        try {
            dir = CheckpointDirectory.open(root.path(), requested).newestStep();
            Map<ParameterGroup, Map<String, HostTensor>> weights = dir.stateDicts();
            shape = shape(dir, weights, request.getShape());
            tokenizer = tokenizer(dir, shape.vocabSize);
            parameters = PlaidParameters.fromStateDicts(shape, backend(), weights);
            if (!request.getUseEma()) dir.useLiveWeights(parameters);
        } catch (CheckpointDirectory.Unusable e) {
            throw InvalidArgument.of("checkpoint", "'" + request.getCheckpoint() + "': " + e.getMessage());
        } catch (IllegalArgumentException e) {
            throw InvalidArgument.of(
                    "checkpoint",
                    "'" + request.getCheckpoint() + "' does not fit its shape options: " + e.getMessage());
        } catch (BackendException e) {
            throw DeviceErrors.status(e, "cannot load checkpoint '" + request.getCheckpoint() + "'");
        } catch (IOException e) {
            throw Status.FAILED_PRECONDITION
                    .withDescription("cannot read checkpoint '" + request.getCheckpoint() + "': " + e.getMessage())
                    .asRuntimeException();
        }
        int maxSeqLen = config.limits().maxSeqLen().orElse(shape.seqLen);
        LoadedModel model = new LoadedModel(
                request.getName(),
                request.getCheckpoint(),
                request.getUseEma(),
                request.getShape(),
                shape,
                parameters,
                tokenizer,
                maxSeqLen,
                Instant.now());
        lastUsed.put(model.name(), System.nanoTime());
        models.put(model.name(), model);
        LOG.infof(
                "loaded model '%s' from %s (%d parameters, %s, tokenizer: %s)",
                model.name(),
                dir.name(),
                parameters.parameterCount(),
                parameters.backend().name(),
                tokenizer == null ? "none" : tokenizer.vocabSize() + " tokens");
        return model;
    }

    /**
     * Every ModelShape option: as config.json gives it, else as the request does (a different
     * value in both is refused naming the request's field), else told by the weights where they
     * can, else train.py's default.
     */
    private static PlaidConfig shape(
            CheckpointDirectory dir, Map<ParameterGroup, Map<String, HostTensor>> weights, ModelShape requested)
            throws IOException {
        Map<String, String> json = dir.configOptions();
        PlaidConfig shape = PlaidConfig.defaults();
        Map<String, String> fieldOfOption = new HashMap<>();
        // ModelShape orders dim before n_heads, which is inferred from it.
        for (FieldDescriptor field : ModelShape.getDescriptor().getFields()) {
            String option = SpecOptions.option(field);
            String given = json.get(option);
            if (given != null) {
                try {
                    shape.set(option, given);
                } catch (IllegalArgumentException e) {
                    throw InvalidArgument.of("checkpoint", CheckpointDirectory.CONFIG_FILE + ": " + e.getMessage());
                }
                InvalidArgument.require(
                        !requested.hasField(field)
                                || sameValue(
                                        option, given, requested.getField(field).toString()),
                        "shape." + field.getName(),
                        "is " + requested.getField(field) + ", but the checkpoint's " + CheckpointDirectory.CONFIG_FILE
                                + " gives " + given);
            } else {
                // Not config.json's: the request's field is where a refused value (or a missing one) belongs.
                fieldOfOption.put(option, "shape." + field.getName());
                if (requested.hasField(field)) SpecOptions.apply(requested, field, shape);
                else
                    CheckpointDirectory.inferredOption(option, shape, weights)
                            .ifPresent(value -> shape.set(option, Long.toString(value)));
            }
        }
        try {
            return SpecOptions.validate(shape, fieldOfOption, "checkpoint");
        } catch (SpecOptions.Refusal refusal) {
            throw InvalidArgument.of(refusal.field(), refusal.problem());
        }
    }

    /** Whether two texts of an option parse to the same value (0.5 and 5e-1, True and true). */
    private static boolean sameValue(String option, String a, String b) {
        try {
            return Objects.equals(
                    PlaidConfig.defaults().set(option, a).asMap().get(option),
                    PlaidConfig.defaults().set(option, b).asMap().get(option));
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** The folder's tokenizer.json, else the configured one (the operator's, so not confined), else none. */
    private BpeTokenizer tokenizer(CheckpointDirectory dir, int vocabSize) throws IOException {
        Path file = dir.tokenizerFile().orElse(root.path().resolve(config.tokenizer()));
        String name = dir.tokenizerFile().isPresent()
                ? CheckpointDirectory.TOKENIZER_FILE + " of " + dir.name()
                : "the configured tokenizer";
        if (!Files.isRegularFile(file)) return null;
        BpeTokenizer tokenizer;
        try {
            tokenizer = BpeTokenizer.load(file);
        } catch (IOException | RuntimeException e) {
            // The parser's message may quote the file; the log keeps it, the caller gets none of it.
            LOG.warnf(e, "cannot load the tokenizer %s", file);
            throw Status.FAILED_PRECONDITION
                    .withDescription("cannot load " + name + ": not a byte-level BPE tokenizer.json")
                    .asRuntimeException();
        }
        // Its ids must all be model ids; a model may have more (a padded vocabulary).
        if (tokenizer.vocabSize() > vocabSize)
            throw Status.FAILED_PRECONDITION
                    .withDescription(name + " has " + tokenizer.vocabSize()
                            + " tokens, more than the model's vocab_size " + vocabSize)
                    .asRuntimeException();
        return tokenizer;
    }

    /** Made at the first load, so the service starts (and answers health checks) without touching a GPU. */
    private ComputeBackend backend() {
        if (backend == null) backend = ComputeBackends.create(config.backend());
        return backend;
    }
}

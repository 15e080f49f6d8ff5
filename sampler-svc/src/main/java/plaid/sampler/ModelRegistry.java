package plaid.sampler;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import org.jboss.logging.Logger;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.backend.cuda.CudaException;
import plaid.model.Parameter;
import plaid.model.ParameterGroup;
import plaid.options.PlaidConfig;
import plaid.model.PlaidParameters;
import plaid.model.TrainingCheckpoint;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.model.checkpoint.Safetensors;
import plaid.service.InvalidArgument;
import plaid.tensor.HostTensor;
import plaid.text.BpeTokenizer;
import plaid.options.SpecOptions;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelShape;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The loaded models by name. A model directory holds the four state dicts (the original's
 * .pt or our .safetensors), optionally a {@code config.json} with the shape options (every
 * ModelShape option by train.py's name: dim, seq_len, diffusion_mode, BoW_cumsum_gamma, ...),
 * and optionally its {@code tokenizer.json}. A directory of trainer checkpoints
 * ({@code step-<N>}, as a job's model_save_path holds them) stands for its newest one.
 */
@ApplicationScoped
public class ModelRegistry {
    private static final Logger LOG = Logger.getLogger(ModelRegistry.class);
    private static final Pattern MODEL_NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    /** The shape options the tensors tell when neither config.json nor the request gives them. */
    private static final Set<String> INFERRED_OPTIONS = Set.of("dim", "n_blocks", "vocab_size", "embed_dim", "n_heads");
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");
    private static final Pattern BLOCK_NORM = Pattern.compile("blocks\\.\\d+\\.rmsnorm1\\.weight");
    private static final String CONFIG_FILE = "config.json";
    private static final String TOKENIZER_FILE = "tokenizer.json";
    /** Where TrainingCheckpoint keeps the live weights when the state dicts hold the EMA ones. */
    private static final String TRAINING_STATE_FILE = "training_state.safetensors";

    private final ModelRoot root;
    private final SamplerServiceConfig config;
    private final Map<String, LoadedModel> models = new ConcurrentHashMap<>();
    private ComputeBackend backend;

    ModelRegistry(ModelRoot root, SamplerServiceConfig config) {
        this.root = root;
        this.config = config;
    }

    /** The model loaded under {@code name}, or NOT_FOUND naming the field. */
    LoadedModel get(String name, String field) {
        LoadedModel model = models.get(name);
        if (model == null) throw Status.NOT_FOUND.withDescription(field + " '" + name + "' is not a loaded model").asRuntimeException();
        return model;
    }

    List<LoadedModel> list() {
        return models.values().stream().sorted(Comparator.comparing(LoadedModel::name)).toList();
    }

    /** Loads are serial: each may take seconds and device memory, and the slot count must hold. */
    synchronized LoadedModel load(LoadModelRequest request) {
        InvalidArgument.require(MODEL_NAME.matcher(request.getName()).matches(), "name",
                "must be 1-64 characters of [A-Za-z0-9._-], got '" + request.getName() + "'");
        Path dir = newestStep(root.resolveExisting(request.getCheckpoint(), "checkpoint"));
        LoadedModel existing = models.get(request.getName());
        if (existing != null) {
            if (existing.checkpoint().equals(request.getCheckpoint()) && existing.useEma() == request.getUseEma()
                    && existing.requestedShape().equals(request.getShape())) return existing;
            throw Status.ALREADY_EXISTS.withDescription("name '" + request.getName() + "' is taken by checkpoint '"
                    + existing.checkpoint() + "'" + (existing.useEma() ? " (EMA weights)" : "")).asRuntimeException();
        }
        if (models.size() >= config.limits().maxModels())
            throw Status.RESOURCE_EXHAUSTED.withDescription("already " + models.size() + " models loaded (sampler-svc.limits.max-models)").asRuntimeException();

        Map<ParameterGroup, Map<String, HostTensor>> weights = stateDicts(dir, request.getCheckpoint());
        PlaidConfig shape = shape(dir, weights, request.getShape());
        BpeTokenizer tokenizer = tokenizer(dir, shape.vocabSize);
        PlaidParameters parameters;
        try {
            parameters = PlaidParameters.fromStateDicts(shape, backend(), weights);
            if (!request.getUseEma()) useLiveWeights(parameters, dir);
        } catch (IllegalArgumentException e) {
            throw InvalidArgument.of("checkpoint", "'" + request.getCheckpoint() + "' does not fit its shape options: " + e.getMessage());
        } catch (CudaException e) {
            throw DeviceErrors.status(e, "cannot load checkpoint '" + request.getCheckpoint() + "'");
        } catch (IOException e) {
            throw Status.FAILED_PRECONDITION.withDescription("cannot read checkpoint '" + request.getCheckpoint() + "': " + e.getMessage())
                    .asRuntimeException();
        }
        int maxSeqLen = config.limits().maxSeqLen().orElse(shape.seqLen);
        LoadedModel model = new LoadedModel(request.getName(), request.getCheckpoint(), request.getUseEma(), request.getShape(), parameters,
                tokenizer, maxSeqLen, Instant.now());
        models.put(model.name(), model);
        LOG.infof("loaded model '%s' from %s (%d parameters, %s, tokenizer: %s)", model.name(), dir, parameters.parameterCount(),
                parameters.backend().name(), tokenizer == null ? "none" : tokenizer.vocabSize() + " tokens");
        return model;
    }

    /** The four state dicts, in the original's format or ours. */
    private static Map<ParameterGroup, Map<String, HostTensor>> stateDicts(Path dir, String checkpoint) {
        Map<ParameterGroup, Map<String, HostTensor>> dicts = new EnumMap<>(ParameterGroup.class);
        try {
            CheckpointFormat format = TrainingCheckpoint.detectFormat(dir);
            for (ParameterGroup group : ParameterGroup.values()) dicts.put(group, format.read(dir, group.fileStem()));
        } catch (NoSuchFileException e) {
            throw InvalidArgument.of("checkpoint", "'" + checkpoint + "' is not a model directory: " + e.getReason());
        } catch (IOException e) {
            throw Status.FAILED_PRECONDITION.withDescription("cannot read checkpoint '" + checkpoint + "': " + e.getMessage()).asRuntimeException();
        }
        return dicts;
    }

    /** {@code dir}, or its newest {@code step-<N>} checkpoint when it holds trainer checkpoints (a job's model_save_path). */
    private static Path newestStep(Path dir) {
        try (Stream<Path> children = Files.list(dir)) {
            return children.filter(child -> Files.isDirectory(child) && STEP_DIR.matcher(child.getFileName().toString()).matches())
                    .max(Comparator.comparingLong(child -> Long.parseLong(child.getFileName().toString().substring("step-".length()))))
                    .orElse(dir);
        } catch (IOException e) {
            throw Status.FAILED_PRECONDITION.withDescription("cannot list " + dir.getFileName() + ": " + e.getMessage()).asRuntimeException();
        }
    }

    /**
     * Every ModelShape option: as config.json gives it, else as the request does (a different
     * value in both is refused naming the request's field), else told by the weights where they
     * can (n_heads by the rotary buffer's length, d_head / 2), else train.py's default.
     */
    private static PlaidConfig shape(Path dir, Map<ParameterGroup, Map<String, HostTensor>> weights, ModelShape requested) {
        JsonNode json = configJson(dir);
        PlaidConfig shape = PlaidConfig.defaults();
        Map<String, String> fieldOfOption = new HashMap<>();
        // ModelShape orders dim before n_heads, which is inferred from it.
        for (FieldDescriptor field : ModelShape.getDescriptor().getFields()) {
            String option = SpecOptions.option(field);
            JsonNode given = json.get(option);
            if (given != null && !given.isNull()) {
                setFromConfigJson(shape, option, given);
                InvalidArgument.require(!requested.hasField(field) || sameValue(option, given.asText(), requested.getField(field).toString()),
                        "shape." + field.getName(), "is " + requested.getField(field) + ", but the checkpoint's " + CONFIG_FILE + " gives " + given);
            } else {
                // Not config.json's: the request's field is where a refused value (or a missing one) belongs.
                fieldOfOption.put(option, "shape." + field.getName());
                if (requested.hasField(field)) SpecOptions.apply(requested, field, shape);
                else if (INFERRED_OPTIONS.contains(option)) shape.set(option, Long.toString(inferred(option, shape, weights)));
            }
        }
        try {
            return SpecOptions.validate(shape, fieldOfOption, "checkpoint");
        } catch (SpecOptions.Refusal refusal) {
            throw InvalidArgument.of(refusal.field(), refusal.problem());
        }
    }

    private static void setFromConfigJson(PlaidConfig shape, String option, JsonNode given) {
        // Integral options may be written 384.0; PlaidConfig parses 384.
        String text = given.isNumber() && given.canConvertToExactIntegral() ? Long.toString(given.asLong()) : given.asText();
        try {
            shape.set(option, text);
        } catch (IllegalArgumentException e) {
            throw InvalidArgument.of("checkpoint", CONFIG_FILE + ": " + e.getMessage());
        }
    }

    /** Whether two texts of an option parse to the same value (0.5 and 5e-1, True and true). */
    private static boolean sameValue(String option, String a, String b) {
        try {
            return Objects.equals(PlaidConfig.defaults().set(option, a).asMap().get(option), PlaidConfig.defaults().set(option, b).asMap().get(option));
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static JsonNode configJson(Path dir) {
        Path file = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(file)) return JsonNodeFactory.instance.objectNode();
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw InvalidArgument.of("checkpoint", CONFIG_FILE + " is not JSON: " + e.getMessage());
        }
    }

    /** An option that neither config.json nor the request gives, from the tensors' shapes. */
    private static long inferred(String option, PlaidConfig shapeSoFar, Map<ParameterGroup, Map<String, HostTensor>> weights) {
        Map<String, HostTensor> model = weights.get(ParameterGroup.MODEL), embedding = weights.get(ParameterGroup.EMBEDDING_MATRIX);
        return switch (option) {
            case "dim" -> tensor(model, "input_linear.weight", option).dim(0);
            case "n_blocks" -> model.keySet().stream().filter(BLOCK_NORM.asMatchPredicate()).count();
            case "vocab_size" -> tensor(embedding, "matrix", option).dim(0);
            case "embed_dim" -> tensor(embedding, "matrix", option).dim(1);
            case "n_heads" -> shapeSoFar.dim / (2 * tensor(model, "rotary_emb.inv_freq", option).dim(0));
            default -> throw new IllegalStateException("no inference for " + option);
        };
    }

    private static HostTensor tensor(Map<String, HostTensor> dict, String name, String option) {
        HostTensor tensor = dict.get(name);
        InvalidArgument.require(tensor != null, "checkpoint", "has no " + CONFIG_FILE + " giving " + option + ", and no tensor " + name + " to tell it");
        return tensor;
    }

    /** The directory's tokenizer.json, else the configured one, else none. */
    private BpeTokenizer tokenizer(Path dir, int vocabSize) {
        Path file = dir.resolve(TOKENIZER_FILE);
        if (!Files.isRegularFile(file)) file = root.path().resolve(config.tokenizer());
        if (!Files.isRegularFile(file)) return null;
        BpeTokenizer tokenizer;
        try {
            tokenizer = BpeTokenizer.load(file);
        } catch (IOException | RuntimeException e) {
            throw Status.FAILED_PRECONDITION.withDescription("cannot load the tokenizer " + file + ": " + e.getMessage()).asRuntimeException();
        }
        // Its ids must all be model ids; a model may have more (a padded vocabulary).
        if (tokenizer.vocabSize() > vocabSize)
            throw Status.FAILED_PRECONDITION.withDescription("the tokenizer " + file + " has " + tokenizer.vocabSize()
                    + " tokens, more than the model's vocab_size " + vocabSize).asRuntimeException();
        return tokenizer;
    }

    /** A trainer checkpoint's state dicts hold the EMA weights; its training state has the live ones. */
    private static void useLiveWeights(PlaidParameters parameters, Path dir) throws IOException {
        Path file = dir.resolve(TRAINING_STATE_FILE);
        if (!Files.isRegularFile(file)) return;
        Map<String, HostTensor> state = Safetensors.read(file);
        for (Parameter p : parameters.all()) {
            HostTensor live = state.get("live." + p.group().fileStem() + "." + p.name());
            if (live == null) throw new IOException(file + " lacks the live weights of " + p.group().fileStem() + "." + p.name());
            parameters.backend().upload(live.toFloats(), p.value());
        }
    }

    /** Made at the first load, so the service starts (and answers health checks) without touching a GPU. */
    private ComputeBackend backend() {
        if (backend == null) backend = ComputeBackends.create(config.backend());
        return backend;
    }
}

package plaid.model;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import plaid.backend.ComputeBackend;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.model.checkpoint.Safetensors;
import plaid.options.PlaidConfig;
import plaid.tensor.HostTensor;
import plaid.text.BpeTokenizer;

/**
 * A checkpoint folder and everything that says what is in one: the four state dicts
 * ({@code <module>.pt} as the original saves them, or {@code <module>.safetensors}), the run's
 * options by train.py's names ({@code config.json}), the tokenizer ({@code tokenizer.json}),
 * and a trainer's {@code training_state.safetensors} (live weights, Adam moments, ...: see
 * {@link TrainingCheckpoint}). A folder of trainer checkpoints ({@code step-<N>}) stands for its
 * newest one.
 *
 * <p>A folder is opened under a root that bounds it: every file and folder it reads is resolved
 * through its links and refused unless it is still under that root, and every message names
 * paths relative to the root and never quotes a file's contents, so a service can hand them
 * to callers.
 */
public final class CheckpointDirectory {
    /** The run's options by train.py's names: what a sampler or evaluator needs to rebuild the shapes. */
    public static final String CONFIG_FILE = "config.json";
    /** The HF tokenizer the model's ids come from. */
    public static final String TOKENIZER_FILE = BpeTokenizer.FILE_NAME;
    /** Exact resumption's state beyond the state dicts; its {@code live.*} tensors are the live weights. */
    static final String TRAINING_STATE_FILE = "training_state.safetensors";
    /** The optimiser step after which the checkpoint was written. */
    static final String STEP_FILE = "step";

    private static final String STEP_PREFIX = "step-";
    private static final Pattern STEP_FOLDER = Pattern.compile(STEP_PREFIX + "(\\d{1,18})");
    private static final Pattern BLOCK_NORM = Pattern.compile("blocks\\.\\d+\\.rmsnorm1\\.weight");
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What is not a usable checkpoint folder: a link leading out, no weights, a config.json that is not JSON, ... */
    public static final class Unusable extends IOException {
        Unusable(String problem) {
            super(problem);
        }
    }

    private final Path root;
    private final Path dir;

    private CheckpointDirectory(Path root, Path dir) {
        this.root = root;
        this.dir = dir;
    }

    /** {@code dir} (an existing folder under {@code root}), refused when a link takes it out of the root. */
    public static CheckpointDirectory open(Path root, Path dir) throws IOException {
        Path realRoot = root.toRealPath();
        CheckpointDirectory folder = new CheckpointDirectory(realRoot, realRoot);
        Path real = folder.confined(dir);
        if (!Files.isDirectory(real)) throw new Unusable(folder.name(dir) + " is not a folder");
        return new CheckpointDirectory(realRoot, real);
    }

    /** {@code dir} bounded by itself: what a trainer reads back from the folder it wrote. */
    public static CheckpointDirectory open(Path dir) throws IOException {
        return open(dir, dir);
    }

    /** The folder name of the checkpoint written after {@code step} optimiser steps. */
    public static String stepFolder(int step) {
        return STEP_PREFIX + step;
    }

    /** The folder itself (a real path). */
    public Path path() {
        return dir;
    }

    /** How messages name the folder: relative to its root. */
    public String name() {
        return name(dir);
    }

    /** This folder, or its newest {@code step-<N>} checkpoint when it holds trainer checkpoints (a job's model_save_path). */
    public CheckpointDirectory newestStep() throws IOException {
        Optional<Path> newest = relativeMessages(() -> {
            try (Stream<Path> children = Files.list(dir)) {
                return children.filter(child -> STEP_FOLDER
                                .matcher(child.getFileName().toString())
                                .matches())
                        .filter(child ->
                                Files.isDirectory(child, LinkOption.NOFOLLOW_LINKS) || Files.isSymbolicLink(child))
                        .max(Comparator.comparingLong(child ->
                                Long.parseLong(child.getFileName().toString().substring(STEP_PREFIX.length()))));
            }
        });
        if (newest.isEmpty()) return this;
        Path real = confined(newest.get());
        if (!Files.isDirectory(real)) throw new Unusable(name(newest.get()) + " is not a folder");
        return new CheckpointDirectory(root, real);
    }

    /** The format of the weights here, judged by which model file is present. */
    public CheckpointFormat format() throws IOException {
        for (CheckpointFormat f : CheckpointFormat.values())
            if (Files.exists(f.file(dir, ParameterGroup.MODEL.fileStem()), LinkOption.NOFOLLOW_LINKS)) return f;
        throw new Unusable(name() + " has no " + ParameterGroup.MODEL.fileStem() + ".pt or "
                + ParameterGroup.MODEL.fileStem() + ".safetensors: not a Plaid checkpoint folder");
    }

    /** The four state dicts, as the files hold them. */
    public Map<ParameterGroup, Map<String, HostTensor>> stateDicts() throws IOException {
        CheckpointFormat format = format();
        Map<ParameterGroup, Map<String, HostTensor>> dicts = new EnumMap<>(ParameterGroup.class);
        for (ParameterGroup group : ParameterGroup.values()) {
            Path file = format.file(dir, group.fileStem());
            if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS))
                throw new Unusable(
                        name() + " has no " + file.getFileName() + " (the " + group.fileStem() + " state dict)");
            dicts.put(group, relativeMessages(() -> format.readFile(confined(file))));
        }
        return dicts;
    }

    /** The four modules as parameters for {@code config}, with the weights the state dicts hold (EMA ones from a trainer). */
    public PlaidParameters loadWeights(PlaidConfig config, ComputeBackend backend) throws IOException {
        return PlaidParameters.fromStateDicts(config, backend, stateDicts());
    }

    /**
     * Replaces the weights of {@code parameters} (loaded from this folder's state dicts) by the
     * live ones when the state dicts hold a trainer's EMA weights; a folder without training
     * state has only one set and is left alone.
     */
    public void useLiveWeights(PlaidParameters parameters) throws IOException {
        Optional<Path> file = existing(TRAINING_STATE_FILE);
        if (file.isEmpty()) return;
        Map<String, HostTensor> state = relativeMessages(() -> Safetensors.read(file.get()));
        for (Parameter p : parameters.all()) {
            HostTensor live = state.get("live." + p.group().fileStem() + "." + p.name());
            if (live == null)
                throw new Unusable(name(file.get()) + " lacks the live weights of "
                        + p.group().fileStem() + "." + p.name());
            parameters.backend().upload(live.toFloats(), p.value());
        }
    }

    /**
     * config.json's options as text by train.py's names (integral numbers written 384.0 read as
     * 384; nulls left out), in the file's order; empty when the folder has none.
     */
    public Map<String, String> configOptions() throws IOException {
        Optional<Path> file = existing(CONFIG_FILE);
        Map<String, String> options = new LinkedHashMap<>();
        if (file.isEmpty()) return options;
        JsonNode json;
        try {
            json = relativeMessages(() -> JSON.readTree(file.get().toFile()));
        } catch (JsonProcessingException e) {
            // Jackson's message quotes the offending text; the location is enough and leaks nothing.
            JsonLocation at = e.getLocation();
            throw new Unusable(name(file.get()) + " is not JSON"
                    + (at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")"));
        }
        if (json == null || !json.isObject()) throw new Unusable(name(file.get()) + " is not a JSON object of options");
        for (Map.Entry<String, JsonNode> option : json.properties()) {
            JsonNode value = option.getValue();
            if (value.isNull()) continue;
            options.put(
                    option.getKey(),
                    value.isNumber() && value.canConvertToExactIntegral()
                            ? Long.toString(value.asLong())
                            : value.asText());
        }
        return options;
    }

    /** The options config.json holds over train.py's defaults; refused when it is missing or gives a bad value. */
    public PlaidConfig config() throws IOException {
        if (existing(CONFIG_FILE).isEmpty())
            throw new Unusable(name() + " has no " + CONFIG_FILE + " giving its options");
        PlaidConfig options = PlaidConfig.defaults();
        for (Map.Entry<String, String> option : configOptions().entrySet()) {
            try {
                options.set(option.getKey(), option.getValue());
            } catch (IllegalArgumentException e) {
                throw new Unusable(name(dir.resolve(CONFIG_FILE)) + ": " + e.getMessage());
            }
        }
        return options;
    }

    /** Writes every option of {@code options} as config.json in {@code dir}. */
    public static void writeConfig(Path dir, PlaidConfig options) throws IOException {
        JSON.writerWithDefaultPrettyPrinter()
                .writeValue(dir.resolve(CONFIG_FILE).toFile(), options.asMap());
    }

    /** Copies {@code tokenizer} into {@code dir} as its tokenizer.json. */
    public static void writeTokenizer(Path dir, Path tokenizer) throws IOException {
        Files.copy(tokenizer, dir.resolve(TOKENIZER_FILE), StandardCopyOption.REPLACE_EXISTING);
    }

    /** The folder's tokenizer.json (its real path, under the root), if it has one. */
    public Optional<Path> tokenizerFile() throws IOException {
        return existing(TOKENIZER_FILE);
    }

    /** Another file of the folder (its real path, under the root), if present. */
    public Optional<Path> existing(String fileName) throws IOException {
        Path file = dir.resolve(fileName);
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) return Optional.empty();
        Path real = confined(file);
        if (!Files.isRegularFile(real)) throw new Unusable(name(file) + " is not a file");
        return Optional.of(real);
    }

    /**
     * A shape option from the tensors' shapes: dim, n_blocks, vocab_size, embed_dim and n_heads
     * ({@code soFar} holds the options already known: n_heads is dim / (2 × the rotary buffer's
     * length)); empty for an option they do not tell.
     */
    public static OptionalLong inferredOption(
            String option, PlaidConfig soFar, Map<ParameterGroup, Map<String, HostTensor>> weights) throws Unusable {
        Map<String, HostTensor> model = weights.get(ParameterGroup.MODEL),
                embedding = weights.get(ParameterGroup.EMBEDDING_MATRIX);
        return switch (option) {
            case "dim" ->
                OptionalLong.of(tensor(model, "input_linear.weight", option).dim(0));
            case "n_blocks" ->
                OptionalLong.of(model.keySet().stream()
                        .filter(BLOCK_NORM.asMatchPredicate())
                        .count());
            case "vocab_size" ->
                OptionalLong.of(tensor(embedding, "matrix", option).dim(0));
            case "embed_dim" ->
                OptionalLong.of(tensor(embedding, "matrix", option).dim(1));
            case "n_heads" ->
                OptionalLong.of(soFar.dim
                        / (2L * tensor(model, "rotary_emb.inv_freq", option).dim(0)));
            default -> OptionalLong.empty();
        };
    }

    private static HostTensor tensor(Map<String, HostTensor> dict, String name, String option) throws Unusable {
        HostTensor tensor = dict.get(name);
        if (tensor == null || tensor.rank() == 0)
            throw new Unusable(
                    "has no " + CONFIG_FILE + " giving " + option + ", and no tensor " + name + " to tell it");
        return tensor;
    }

    /** {@code path}'s real location, refused unless it is under the root. */
    private Path confined(Path path) throws IOException {
        Path real;
        try {
            real = path.toRealPath();
        } catch (NoSuchFileException e) {
            throw new Unusable(name(path) + " does not exist (or is a link to nothing)");
        } catch (IOException e) {
            // The file system's message names the absolute path; the kind of failure is enough.
            throw new Unusable(
                    name(path) + " cannot be resolved (" + e.getClass().getSimpleName() + ")");
        }
        if (!real.startsWith(root)) throw new Unusable(name(path) + " leads outside the root through a link");
        return real;
    }

    /** {@code path} relative to the root, '/'-separated; paths outside it by their file name only. */
    private String name(Path path) {
        Path normal = path.toAbsolutePath().normalize();
        if (!normal.startsWith(root)) return String.valueOf(normal.getFileName());
        String relative = root.relativize(normal)
                .toString()
                .replace(normal.getFileSystem().getSeparator(), "/");
        return relative.isEmpty() ? "." : relative;
    }

    private interface Read<T> {
        T read() throws IOException;
    }

    /** Runs a format reader, whose messages name files by absolute path, and names them relative to the root instead. */
    private <T> T relativeMessages(Read<T> read) throws IOException {
        try {
            return read.read();
        } catch (Unusable | JsonProcessingException e) {
            throw e;
        } catch (IOException e) {
            String message = String.valueOf(e.getMessage())
                    .replace(root + root.getFileSystem().getSeparator(), "")
                    .replace(root.toString(), ".");
            throw new IOException(message, e);
        }
    }
}

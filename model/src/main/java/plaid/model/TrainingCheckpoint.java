package plaid.model;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.model.checkpoint.Safetensors;
import plaid.tensor.DType;
import plaid.tensor.HostTensor;

/**
 * Saving and restoring a trainer through a checkpoint folder ({@link CheckpointDirectory} says
 * what its files are): the four state dicts as the original saves them (the EMA weights when
 * EMA is on), the step, the run's options, and the training state with what exact resumption
 * needs beyond them (live weights, Adam moments, gradient-norm history, reconst_bs
 * statistics). Written to a temporary folder, synced, then renamed into place, so a crash
 * leaves either the old checkpoint or the new one.
 */
public final class TrainingCheckpoint {
    private TrainingCheckpoint() {}

    /** Writes the four modules' state dicts of {@code params} into {@code dir}. */
    public static void saveWeights(PlaidParameters params, Path dir, CheckpointFormat format) throws IOException {
        saveWeights(params.toStateDicts(), dir, format);
    }

    private static void saveWeights(
            Map<ParameterGroup, Map<String, HostTensor>> dicts, Path dir, CheckpointFormat format) throws IOException {
        Files.createDirectories(dir);
        for (var e : dicts.entrySet()) format.write(dir, e.getKey().fileStem(), new LinkedHashMap<>(e.getValue()));
    }

    /** Saves everything needed to continue after optimiser step {@code step} has run. */
    public static void save(Trainer trainer, int step, Path dir, CheckpointFormat format) throws IOException {
        save(trainer, trainer.optimizer().state(), step, dir, format);
    }

    /** The same with the optimiser's state {@code os} given (a sharded optimiser's, gathered from every rank). */
    public static void save(Trainer trainer, Optimizer.State os, int step, Path dir, CheckpointFormat format)
            throws IOException {
        Path parent = dir.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + dir.getFileName() + ".tmp-");
        PlaidParameters params = trainer.parameters();
        List<Parameter> all = params.all();

        Map<ParameterGroup, Map<String, HostTensor>> weights = params.toStateDicts();
        if (os.emaValues() != null) weights = withValues(weights, all, os.emaValues());
        saveWeights(weights, tmp, format);
        Files.writeString(tmp.resolve(CheckpointDirectory.STEP_FILE), Integer.toString(step));
        CheckpointDirectory.writeConfig(tmp, trainer.config());

        LinkedHashMap<String, HostTensor> state = new LinkedHashMap<>();
        for (int i = 0; i < all.size(); i++) {
            Parameter p = all.get(i);
            String key = p.group().fileStem() + "." + p.name();
            state.put(
                    "live." + key,
                    HostTensor.ofFloats(p.shape(), params.backend().download(p.value())));
            state.put(
                    "adam_m." + key,
                    HostTensor.ofFloats(p.shape(), os.firstMoments().get(i)));
            state.put(
                    "adam_v." + key,
                    HostTensor.ofFloats(p.shape(), os.secondMoments().get(i)));
            if (os.emaValues() != null)
                state.put(
                        "ema." + key,
                        HostTensor.ofFloats(p.shape(), os.emaValues().get(i)));
            if (os.initValues() != null)
                state.put(
                        "init." + key,
                        HostTensor.ofFloats(p.shape(), os.initValues().get(i)));
        }
        state.put(
                "grad_norm_history",
                HostTensor.ofDoubles(DType.F64, new int[] {os.previousGradNorms().length}, os.previousGradNorms()));
        state.put(
                "reconst_bs_stats",
                HostTensor.ofDoubles(
                        DType.F64, new int[] {5}, trainer.reconstBatchSize().state()));
        Safetensors.write(
                tmp.resolve(CheckpointDirectory.TRAINING_STATE_FILE),
                state,
                Map.of(
                        "step", Integer.toString(step),
                        "first_step", Integer.toString(os.firstStep()),
                        "adam_steps", Integer.toString(os.adamSteps())));

        fsyncTree(tmp);
        replaceDirectory(tmp, dir);
    }

    private static Map<ParameterGroup, Map<String, HostTensor>> withValues(
            Map<ParameterGroup, Map<String, HostTensor>> dicts, List<Parameter> all, List<float[]> values) {
        Map<ParameterGroup, Map<String, HostTensor>> out = new EnumMap<>(ParameterGroup.class);
        dicts.forEach((g, d) -> out.put(g, new LinkedHashMap<>(d)));
        for (int i = 0; i < all.size(); i++) {
            Parameter p = all.get(i);
            out.get(p.group()).put(p.name(), HostTensor.ofFloats(p.shape(), values.get(i)));
        }
        return out;
    }

    /**
     * Restores a trainer (built over parameters of the same config) from {@code checkpoint};
     * returns the next step to run. A folder from the original code (no training state)
     * restores the weights only, and the optimiser starts afresh at the step after the saved one.
     */
    public static int restore(Trainer trainer, CheckpointDirectory checkpoint) throws IOException {
        PlaidParameters params = trainer.parameters();
        Optional<Path> stepFile = checkpoint.existing(CheckpointDirectory.STEP_FILE);
        int savedStep = stepFile.isPresent()
                ? Integer.parseInt(Files.readString(stepFile.get()).trim())
                : -1;
        Optional<Path> training = checkpoint.existing(CheckpointDirectory.TRAINING_STATE_FILE);
        List<Parameter> all = params.all();
        if (training.isEmpty()) {
            PlaidParameters loaded = checkpoint.loadWeights(trainer.config(), params.backend());
            List<float[]> values = loaded.snapshotValues();
            for (int i = 0; i < all.size(); i++)
                params.backend().upload(values.get(i), all.get(i).value());
            trainer.optimizer().restartAt(savedStep + 1);
            return savedStep + 1;
        }
        Path stateFile = training.get();
        Map<String, HostTensor> state = Safetensors.read(stateFile);
        Map<String, String> meta = Safetensors.readMetadata(stateFile);
        List<float[]> m = new ArrayList<>(), v = new ArrayList<>(), ema = new ArrayList<>(), init = new ArrayList<>();
        for (Parameter p : all) {
            String key = p.group().fileStem() + "." + p.name();
            params.backend().upload(require(state, "live." + key, stateFile).toFloats(), p.value());
            m.add(require(state, "adam_m." + key, stateFile).toFloats());
            v.add(require(state, "adam_v." + key, stateFile).toFloats());
            if (state.containsKey("ema." + key)) ema.add(state.get("ema." + key).toFloats());
            if (state.containsKey("init." + key))
                init.add(state.get("init." + key).toFloats());
        }
        trainer.optimizer()
                .restore(new Optimizer.State(
                        Integer.parseInt(meta.get("first_step")),
                        Integer.parseInt(meta.get("adam_steps")),
                        require(state, "grad_norm_history", stateFile).toDoubles(),
                        m,
                        v,
                        ema.isEmpty() ? null : ema,
                        init.isEmpty() ? null : init));
        trainer.reconstBatchSize()
                .restore(require(state, "reconst_bs_stats", stateFile).toDoubles());
        return Integer.parseInt(meta.get("step")) + 1;
    }

    private static HostTensor require(Map<String, HostTensor> state, String key, Path file) throws IOException {
        HostTensor t = state.get(key);
        if (t == null) throw new IOException(file.getFileName() + ": training state lacks " + key);
        return t;
    }

    private static void fsyncTree(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                    ch.force(true);
                }
            }
        }
    }

    /** Moves {@code fresh} to {@code target}, replacing an older checkpoint there. */
    private static void replaceDirectory(Path fresh, Path target) throws IOException {
        Path old = null;
        if (Files.exists(target)) {
            old = target.resolveSibling("." + target.getFileName() + ".old-" + System.nanoTime());
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(fresh, target, StandardCopyOption.ATOMIC_MOVE);
        if (old != null) deleteTree(old);
    }

    static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}

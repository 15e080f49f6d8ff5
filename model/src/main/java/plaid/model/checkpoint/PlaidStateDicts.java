package plaid.model.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import plaid.tensor.HostTensor;

/**
 * The state dicts of Plaid's four trained modules, stored side by side in one directory
 * as the original code saves them ({@code model.pt}, {@code noise_schedule.pt},
 * {@code gamma_bounds.pt}, {@code embedding_matrix.pt}), or as {@code .safetensors}.
 */
public record PlaidStateDicts(
        LinkedHashMap<String, HostTensor> model,
        LinkedHashMap<String, HostTensor> noiseSchedule,
        LinkedHashMap<String, HostTensor> gammaBounds,
        LinkedHashMap<String, HostTensor> embeddingMatrix) {

    public static final String MODEL = "model";
    public static final String NOISE_SCHEDULE = "noise_schedule";
    public static final String GAMMA_BOUNDS = "gamma_bounds";
    public static final String EMBEDDING_MATRIX = "embedding_matrix";

    /** Reads all four modules; a missing one is a {@link java.nio.file.NoSuchFileException} naming its file. */
    public static PlaidStateDicts load(Path directory, CheckpointFormat format) throws IOException {
        return new PlaidStateDicts(
                format.read(directory, MODEL),
                format.read(directory, NOISE_SCHEDULE),
                format.read(directory, GAMMA_BOUNDS),
                format.read(directory, EMBEDDING_MATRIX));
    }

    /** Writes all four modules into {@code directory}, creating it if needed. */
    public void save(Path directory, CheckpointFormat format) throws IOException {
        Files.createDirectories(directory);
        format.write(directory, MODEL, model);
        format.write(directory, NOISE_SCHEDULE, noiseSchedule);
        format.write(directory, GAMMA_BOUNDS, gammaBounds);
        format.write(directory, EMBEDDING_MATRIX, embeddingMatrix);
    }
}

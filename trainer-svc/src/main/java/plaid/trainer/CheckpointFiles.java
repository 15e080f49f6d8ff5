package plaid.trainer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import plaid.options.PlaidConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Iterator;
import java.util.Map;

/**
 * What a checkpoint directory holds beside TrainingCheckpoint's files, so it stands on its own
 * (EvaluateLikelihood, the sampler service's LoadModel): {@code config.json} with every option
 * by train.py's name, and the job's {@code tokenizer.json}.
 */
final class CheckpointFiles {
    static final String CONFIG = "config.json";
    static final String TOKENIZER = "tokenizer.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private CheckpointFiles() {}

    static void write(Path checkpointDir, PlaidConfig options, Path tokenizer) throws IOException {
        JSON.writerWithDefaultPrettyPrinter().writeValue(checkpointDir.resolve(CONFIG).toFile(), options.asMap());
        Files.copy(tokenizer, checkpointDir.resolve(TOKENIZER), StandardCopyOption.REPLACE_EXISTING);
    }

    /** The options {@link #write} saved; unset (null) ones keep their defaults. */
    static PlaidConfig readConfig(Path checkpointDir) throws IOException {
        PlaidConfig options = PlaidConfig.defaults();
        for (Iterator<Map.Entry<String, JsonNode>> it = JSON.readTree(checkpointDir.resolve(CONFIG).toFile()).properties().iterator(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> option = it.next();
            if (!option.getValue().isNull()) options.set(option.getKey(), option.getValue().asText());
        }
        return options;
    }
}

package plaid.data;

import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import plaid.text.BpeTokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The configured tokenizer, loaded at first use: the service starts (and answers health
 * checks and ListDatasets) even where the tokenizer file has not been provided yet.
 */
@ApplicationScoped
public class ServiceTokenizer {
    private final Path file;
    private volatile BpeTokenizer loaded;

    ServiceTokenizer(DataServiceConfig config, DataRoot root) {
        this.file = root.path().resolve(config.tokenizer());
    }

    /** The tokenizer, or FAILED_PRECONDITION naming the missing file. */
    public BpeTokenizer get() {
        BpeTokenizer tokenizer = loaded;
        if (tokenizer != null) return tokenizer;
        synchronized (this) {
            if (loaded == null) {
                if (!Files.isRegularFile(file))
                    throw Status.FAILED_PRECONDITION.withDescription("no tokenizer at " + file + " (config data-svc.tokenizer)").asRuntimeException();
                try {
                    loaded = BpeTokenizer.load(file);
                } catch (IOException | RuntimeException e) {
                    throw Status.FAILED_PRECONDITION.withDescription("cannot load the tokenizer " + file + ": " + e.getMessage()).asRuntimeException();
                }
            }
            return loaded;
        }
    }
}

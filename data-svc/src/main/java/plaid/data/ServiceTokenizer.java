package plaid.data;

import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import plaid.text.BpeTokenizer;

/**
 * The configured tokenizer, loaded at first use: the service starts (and answers health
 * checks and ListDatasets) even where the tokenizer file has not been provided yet.
 */
@ApplicationScoped
public class ServiceTokenizer {
    private static final org.jboss.logging.Logger LOG = org.jboss.logging.Logger.getLogger(ServiceTokenizer.class);
    private final Path file;
    /** How replies name the file: as configured, relative to the data root, never the server's absolute path. */
    private final String shownName;

    private volatile BpeTokenizer loaded;

    ServiceTokenizer(DataServiceConfig config, DataRoot root) {
        this.file = root.path().resolve(config.tokenizer());
        this.shownName = "'" + config.tokenizer() + "' under the data root";
    }

    /** The configured file, if it is there. */
    public Optional<Path> file() {
        return Files.isRegularFile(file) ? Optional.of(file) : Optional.empty();
    }

    /** The tokenizer, or FAILED_PRECONDITION naming the missing file. */
    public BpeTokenizer get() {
        BpeTokenizer tokenizer = loaded;
        if (tokenizer != null) return tokenizer;
        synchronized (this) {
            if (loaded == null) {
                if (!Files.isRegularFile(file))
                    throw Status.FAILED_PRECONDITION
                            .withDescription("no tokenizer at " + shownName + " (config data-svc.tokenizer)")
                            .asRuntimeException();
                try {
                    loaded = BpeTokenizer.load(file);
                } catch (IOException | RuntimeException e) {
                    // the cause may quote the file's contents: it goes to the log, not to the caller
                    LOG.errorf(e, "cannot load the tokenizer %s", file);
                    throw Status.FAILED_PRECONDITION
                            .withDescription("cannot load the tokenizer " + shownName + " (see the service's log)")
                            .asRuntimeException();
                }
            }
            return loaded;
        }
    }
}

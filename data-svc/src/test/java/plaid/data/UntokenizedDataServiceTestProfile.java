package plaid.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** A data service of its own root with no tokenizer file, as `plaid up` starts one: corpora train their own. */
public class UntokenizedDataServiceTestProfile extends DataServiceTestProfile {
    static final Path ROOT = createRoot();

    @Override
    public Map<String, String> getConfigOverrides() {
        Map<String, String> overrides = new HashMap<>(super.getConfigOverrides());
        overrides.put("data-svc.root", ROOT.toString());
        overrides.put("data-svc.tokenizer", "no-tokenizer-here.json");
        overrides.put("data-svc.prepare-progress-interval", "1ms");
        return overrides;
    }

    private static Path createRoot() {
        try {
            return Files.createTempDirectory("plaid-data-svc-untokenized");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

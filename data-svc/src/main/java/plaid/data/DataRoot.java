package plaid.data;

import jakarta.enterprise.context.ApplicationScoped;
import java.nio.file.Path;
import plaid.service.ConfinedRoot;
import plaid.service.InvalidArgument;
import plaid.text.CorpusDirectory;

/**
 * The configured data root and the only ways requests reach files: a relative path that
 * stays inside it, or a corpus name that cannot contain a path at all.
 */
@ApplicationScoped
public class DataRoot {
    private final ConfinedRoot root;

    DataRoot(DataServiceConfig config) {
        this.root = new ConfinedRoot(config.root(), "data root");
    }

    public Path path() {
        return root.path();
    }

    /**
     * A request's relative path, resolved under the root. Absolute paths, {@code ..} that
     * climbs out, and symbolic links that lead out are refused as an invalid {@code field}.
     */
    public Path resolve(String relative, String field) {
        return root.resolve(relative, field);
    }

    /** Where training corpora live. */
    public Path corpora() {
        return root.path().resolve(CorpusDirectory.CORPORA);
    }

    /** The folder of corpus {@code name}, after checking that the name is a plain name. */
    public Path corpus(String name, String field) {
        InvalidArgument.require(
                CorpusDirectory.isName(name),
                field,
                "must be 1-64 characters of [A-Za-z0-9._-] not starting with '.', got '" + name + "'");
        return CorpusDirectory.folder(root.path(), name);
    }
}

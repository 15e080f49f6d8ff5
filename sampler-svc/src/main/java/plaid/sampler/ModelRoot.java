package plaid.sampler;

import jakarta.enterprise.context.ApplicationScoped;
import java.nio.file.Path;
import plaid.service.ConfinedRoot;

/** The configured model root: the only folder whose checkpoints requests can load. */
@ApplicationScoped
public class ModelRoot {
    private final ConfinedRoot root;

    ModelRoot(SamplerServiceConfig config) {
        this.root = new ConfinedRoot(config.modelRoot(), "model root");
    }

    public Path path() {
        return root.path();
    }

    /**
     * A request's relative path, resolved under the root to its real location. Absolute
     * paths, {@code ..} that climbs out and links that lead out are refused as an invalid
     * {@code field}; a path that does not exist is NOT_FOUND.
     */
    public Path resolveExisting(String relative, String field) {
        return root.resolveExisting(relative, field);
    }
}

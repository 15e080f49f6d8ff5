package plaid.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfinedRootTest {
    @TempDir
    Path temp;

    @Test
    void relativePathsResolveInsideTheRoot() throws IOException {
        ConfinedRoot root = new ConfinedRoot(temp.resolve("root"), "test root");
        Files.createDirectories(root.path().resolve("a"));
        assertThat(root.resolve("a/b/../c", "f")).isEqualTo(root.path().resolve("a/c"));
        assertThat(root.resolveExisting("a", "f")).isEqualTo(root.path().resolve("a"));
        assertThat(root.relative(root.path().resolve("a/c"))).isEqualTo("a/c");
    }

    @Test
    void escapesAreRefusedNamingTheField() throws IOException {
        ConfinedRoot root = new ConfinedRoot(temp.resolve("root"), "test root");
        Path outside = Files.createDirectories(temp.resolve("outside"));
        Files.createSymbolicLink(root.path().resolve("link"), outside);
        for (String escape : new String[] {"", "/etc", "../outside", "a/../../outside", "link"}) {
            assertRefused(Status.Code.INVALID_ARGUMENT, () -> root.resolve(escape, "field"));
            assertRefused(Status.Code.INVALID_ARGUMENT, () -> root.resolveExisting(escape, "field"));
        }
        assertRefused(Status.Code.INVALID_ARGUMENT, () -> root.resolve("link/new-file", "field"));
        assertRefused(Status.Code.NOT_FOUND, () -> root.resolveExisting("absent", "field"));
    }

    private static void assertRefused(Status.Code code, Runnable call) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(code);
            assertThat(e.getStatus().getDescription()).startsWith("field");
        });
    }
}

package plaid.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tokenizer that is missing or unreadable is refused without the server's paths or the file's contents. */
class ServiceTokenizerTest {
    @TempDir
    Path root;

    @Test
    void aMissingTokenizerIsNamedRelativeToTheDataRoot() {
        StatusRuntimeException e = assertThrows(
                StatusRuntimeException.class, () -> tokenizer("tokenizer.json").get());
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(e.getStatus().getDescription())
                .contains("'tokenizer.json' under the data root")
                .doesNotContain(root.toString());
    }

    @Test
    void anUnreadableTokenizerDoesNotEchoItsContents() throws Exception {
        Files.writeString(root.resolve("tokenizer.json"), "{\"SECRET-CONTENTS\": ");
        StatusRuntimeException e = assertThrows(
                StatusRuntimeException.class, () -> tokenizer("tokenizer.json").get());
        assertThat(e.getStatus().getDescription()).doesNotContain("SECRET").doesNotContain(root.toString());
    }

    private ServiceTokenizer tokenizer(String name) {
        DataServiceConfig config = (DataServiceConfig) Proxy.newProxyInstance(
                getClass().getClassLoader(),
                new Class<?>[] {DataServiceConfig.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "root" -> root;
                    case "tokenizer" -> Path.of(name);
                    default -> throw new UnsupportedOperationException(method.getName());
                });
        return new ServiceTokenizer(config, new DataRoot(config));
    }
}

package plaid.backend.cuda.bind;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import plaid.backend.cuda.CudaException;

/** Where the bindings look for the CUDA libraries, and what they say when one is missing. */
class NativeLibraryTest {
    @Test
    void searchesCudaHomeTheLoaderPathAndTheCudaRuntimeImagesDirectories() {
        assertThat(NativeLibrary.searchedDirectories("/opt/cuda", "/a/lib::/b/lib", "amd64"))
                .containsExactly(
                        Path.of("/opt/cuda/lib64"),
                        Path.of("/a/lib"),
                        Path.of("/b/lib"),
                        Path.of("/usr/local/cuda/lib64"),
                        Path.of("/usr/local/cuda/targets/x86_64-linux/lib"),
                        Path.of("/usr/local/nvidia/lib64"),
                        Path.of("/usr/lib/x86_64-linux-gnu"),
                        Path.of("/lib/x86_64-linux-gnu"));
        assertThat(NativeLibrary.searchedDirectories(null, null, "aarch64"))
                .contains(Path.of("/usr/local/cuda/targets/sbsa-linux/lib"), Path.of("/usr/lib/aarch64-linux-gnu"));
    }

    @Test
    void aMissingLibraryNamesWhatWasTriedAndWhere() {
        assertThatThrownBy(() -> NativeLibrary.load("a library no machine has", "libplaid-none.so.1"))
                .isInstanceOf(CudaException.class)
                .hasMessageContaining("a library no machine has not found")
                .hasMessageContaining("libplaid-none.so.1")
                .hasMessageContaining("/usr/local/cuda/targets/");
    }
}

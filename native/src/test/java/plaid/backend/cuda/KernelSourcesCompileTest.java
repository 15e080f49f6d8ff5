package plaid.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Compiles every kernel source with nvcc for sm_90, with the options NVRTC gets at run time,
 * so that a broken kernel fails the build on a machine without a GPU. Skipped without nvcc.
 */
class KernelSourcesCompileTest {
    @TempDir
    Path output;

    @TestFactory
    Stream<DynamicTest> everyKernelSourceCompiles() throws IOException, URISyntaxException {
        assumeTrue(nvccAvailable(), "nvcc is not on the PATH; kernel sources not compile-checked");
        URI kernelDirectory = getClass()
                .getClassLoader()
                .getResource(KernelCompiler.RESOURCE_DIRECTORY)
                .toURI();
        assumeTrue(
                kernelDirectory.getScheme().equals("file"), "kernel sources are not a directory: " + kernelDirectory);
        Path kernels = Path.of(kernelDirectory);
        List<Path> sources;
        try (Stream<Path> files = Files.list(kernels)) {
            sources = files.filter(f -> f.toString().endsWith(".cu")).sorted().toList();
        }
        assertThat(sources).as("kernel sources in " + kernels).isNotEmpty();
        try (Stream<Path> files = Files.list(kernels)) {
            // nvcc below finds any header in the directory; NVRTC at run time only those KernelCompiler hands it
            assertThat(files.map(f -> f.getFileName().toString()).filter(name -> name.endsWith(".cuh")))
                    .as("every header is one NVRTC is given")
                    .containsExactlyInAnyOrderElementsOf(KernelCompiler.HEADERS);
        }
        assertThat(sources.stream().map(f -> f.getFileName().toString()))
                .as("every source a Kernel names exists")
                .containsAll(
                        Stream.of(Kernel.values()).map(k -> k.source).distinct().toList());
        assertThat(sources.stream().map(f -> f.getFileName().toString()))
                .as("every source defines a kernel the backend launches")
                .containsExactlyInAnyOrderElementsOf(
                        Stream.of(Kernel.values()).map(k -> k.source).distinct().toList());
        return sources.stream()
                .map(source ->
                        DynamicTest.dynamicTest(source.getFileName().toString(), () -> compile(source, kernels)));
    }

    private void compile(Path source, Path includeDirectory) throws IOException, InterruptedException {
        List<String> command =
                new ArrayList<>(List.of("nvcc", "-arch=sm_90", "-cubin", "-I", includeDirectory.toString()));
        command.addAll(KernelCompiler.COMMON_OPTIONS);
        command.addAll(
                List.of("-o", output.resolve(source.getFileName() + ".cubin").toString(), source.toString()));
        Process nvcc = new ProcessBuilder(command).redirectErrorStream(true).start();
        String log = new String(nvcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(nvcc.waitFor()).as("nvcc %s:%n%s", source.getFileName(), log).isZero();
        assertThat(log).as("nvcc warnings for %s", source.getFileName()).doesNotContainIgnoringCase("warning");
    }

    private static boolean nvccAvailable() {
        try {
            Process probe = new ProcessBuilder("nvcc", "--version")
                    .redirectErrorStream(true)
                    .start();
            probe.getInputStream().readAllBytes();
            return probe.waitFor() == 0;
        } catch (IOException | InterruptedException notThere) {
            return false;
        }
    }
}

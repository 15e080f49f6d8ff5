package plaid.backend.cuda.bind;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import plaid.backend.cuda.CudaException;

/**
 * Finds a shared library among candidate names and links its functions, for the hand-written
 * bindings, and remembers where each one came from (the backend logs it at startup).
 */
public final class NativeLibrary {
    private static final Linker LINKER = Linker.nativeLinker();

    /**
     * Where CUDA lives when the dynamic loader does not find a library by name: CUDA_HOME, the
     * LD_LIBRARY_PATH directories, the toolkit's and NVIDIA's CUDA runtime images' directories, the
     * directory container runtimes mount the driver into, and the distribution's library directory.
     */
    public static final List<Path> SEARCHED_DIRECTORIES = searchedDirectories(
            System.getenv("CUDA_HOME"), System.getenv("LD_LIBRARY_PATH"), System.getProperty("os.arch"));

    /** What each binding loaded: its description → the file it came from. */
    private static final Map<String, String> LOADED = new ConcurrentHashMap<>();

    private final SymbolLookup symbols;

    private NativeLibrary(SymbolLookup symbols) {
        this.symbols = symbols;
    }

    /**
     * The first of {@code names} the dynamic loader finds, by name (LD_LIBRARY_PATH, ldconfig)
     * or in {@link #SEARCHED_DIRECTORIES}; otherwise a {@link CudaException} listing what was tried.
     */
    public static NativeLibrary load(String what, String... names) {
        for (String name : names) {
            try {
                NativeLibrary library = new NativeLibrary(SymbolLookup.libraryLookup(name, Arena.global()));
                LOADED.put(what, mappedFile(name).orElse(name + " (by the loader's search)"));
                return library;
            } catch (IllegalArgumentException notOnLoaderPath) {
                for (Path directory : SEARCHED_DIRECTORIES) {
                    Path candidate = directory.resolve(name);
                    if (Files.exists(candidate)) {
                        NativeLibrary library =
                                new NativeLibrary(SymbolLookup.libraryLookup(candidate, Arena.global()));
                        LOADED.put(what, candidate.toString());
                        return library;
                    }
                }
            }
        }
        throw new CudaException(what + " not found: tried " + String.join(", ", names) + " on the loader path and in "
                + SEARCHED_DIRECTORIES + " (set LD_LIBRARY_PATH to its directory)");
    }

    /** The libraries loaded so far, each as "description: file". */
    public static List<String> loaded() {
        return LOADED.entrySet().stream()
                .map(e -> e.getKey() + ": " + e.getValue())
                .sorted()
                .toList();
    }

    public MethodHandle function(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        return LINKER.downcallHandle(symbols.findOrThrow(name), descriptor, options);
    }

    /** What a binding's wrapper throws when its downcall threw: downcalls throw nothing checked, so this only passes the unchecked on. */
    public static RuntimeException downcallFailed(Throwable thrown) {
        if (thrown instanceof RuntimeException unchecked) return unchecked;
        if (thrown instanceof Error error) throw error;
        return new IllegalStateException("a downcall threw a checked exception", thrown);
    }

    /**
     * The file a library loaded by name was mapped from, as Linux lists it in /proc/self/maps
     * (the loader does not say which directory it chose); empty elsewhere.
     */
    private static java.util.Optional<String> mappedFile(String name) {
        String stem = name.contains(".so") ? name.substring(0, name.indexOf(".so") + 3) : name;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                int slash = line.indexOf('/');
                if (slash < 0) continue;
                String file = line.substring(slash);
                if (Path.of(file).getFileName().toString().startsWith(stem)) return java.util.Optional.of(file);
            }
        } catch (IOException | RuntimeException notLinux) {
            // the name is all there is to say
        }
        return java.util.Optional.empty();
    }

    static List<Path> searchedDirectories(String cudaHome, String ldLibraryPath, String osArch) {
        String triple = "aarch64".equals(osArch) ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
        String target = "aarch64".equals(osArch) ? "sbsa-linux" : "x86_64-linux";
        Set<Path> directories = new LinkedHashSet<>();
        if (cudaHome != null && !cudaHome.isBlank()) directories.add(Path.of(cudaHome, "lib64"));
        if (ldLibraryPath != null) {
            for (String entry : ldLibraryPath.split(":")) if (!entry.isBlank()) directories.add(Path.of(entry));
        }
        directories.add(Path.of("/usr/local/cuda/lib64"));
        directories.add(Path.of("/usr/local/cuda/targets/" + target + "/lib"));
        directories.add(Path.of("/usr/local/nvidia/lib64"));
        directories.add(Path.of("/usr/lib/" + triple));
        directories.add(Path.of("/lib/" + triple));
        return List.copyOf(new ArrayList<>(directories));
    }
}

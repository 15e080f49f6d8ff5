package plaid.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Finds a shared library among candidate names and links its functions, for the hand-written bindings. */
final class NativeLibrary {
    private static final Linker LINKER = Linker.nativeLinker();

    /**
     * Where CUDA usually lives when LD_LIBRARY_PATH does not say: the toolkit and the directory
     * container runtimes mount the driver into.
     */
    private static final List<Path> USUAL_DIRECTORIES = usualDirectories();

    private final SymbolLookup symbols;

    private NativeLibrary(SymbolLookup symbols) {
        this.symbols = symbols;
    }

    /**
     * The first of {@code names} the dynamic loader finds, by name (LD_LIBRARY_PATH, ldconfig)
     * or in the usual CUDA directories; otherwise a {@link CudaException} listing what was tried.
     */
    static NativeLibrary load(String what, String... names) {
        for (String name : names) {
            try {
                return new NativeLibrary(SymbolLookup.libraryLookup(name, Arena.global()));
            } catch (IllegalArgumentException notOnLoaderPath) {
                for (Path directory : USUAL_DIRECTORIES) {
                    Path candidate = directory.resolve(name);
                    if (Files.exists(candidate)) return new NativeLibrary(SymbolLookup.libraryLookup(candidate, Arena.global()));
                }
            }
        }
        throw new CudaException(what + " not found: tried " + String.join(", ", names) + " on the loader path and in "
                + USUAL_DIRECTORIES + " (set LD_LIBRARY_PATH to its directory)");
    }

    MethodHandle function(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        return LINKER.downcallHandle(symbols.findOrThrow(name), descriptor, options);
    }

    /** What a binding's wrapper throws when its downcall threw: downcalls throw nothing checked, so this only passes the unchecked on. */
    static RuntimeException downcallFailed(Throwable thrown) {
        if (thrown instanceof RuntimeException unchecked) return unchecked;
        if (thrown instanceof Error error) throw error;
        return new IllegalStateException("a downcall threw a checked exception", thrown);
    }

    private static List<Path> usualDirectories() {
        List<Path> directories = new ArrayList<>();
        String cudaHome = System.getenv("CUDA_HOME");
        if (cudaHome != null) directories.add(Path.of(cudaHome, "lib64"));
        directories.add(Path.of("/usr/local/cuda/lib64"));
        directories.add(Path.of("/usr/local/nvidia/lib64"));
        directories.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        return List.copyOf(directories);
    }
}

package plaid.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import plaid.backend.cuda.bind.Nvrtc;

/**
 * Compiles a kernel source from {@code plaid/kernels/} with NVRTC for one GPU architecture and
 * keeps the CUBIN on disk, so that only the first run on a machine pays for compilation.
 * The cache key is the SHA-256 of everything that decides the binary: options (architecture
 * included), headers and source.
 */
final class KernelCompiler {
    private KernelCompiler() {}

    static final String RESOURCE_DIRECTORY = "plaid/kernels/";
    /** Headers every source may include. */
    static final List<String> HEADERS = List.of("common.cuh", "tensor_cores.cuh");
    /**
     * No fused multiply-add: the Java reference rounds every product, and contracting would
     * make element-wise results differ in the last bit.
     */
    static final List<String> COMMON_OPTIONS = List.of("--fmad=false");

    static byte[] cubin(String sourceName, int computeCapability) {
        String source = resource(sourceName);
        Map<String, String> headers = new LinkedHashMap<>();
        for (String header : HEADERS) headers.put(header, resource(header));
        List<String> options = new ArrayList<>(COMMON_OPTIONS);
        options.add("--gpu-architecture=sm_" + computeCapability);

        Path cached = cacheDirectory().resolve(cacheKey(options, headers, source) + ".cubin");
        if (Files.isRegularFile(cached)) {
            try {
                return Files.readAllBytes(cached);
            } catch (IOException unreadable) {
                // fall through and compile afresh
            }
        }
        byte[] cubin = compile(sourceName, source, headers, options);
        store(cached, cubin);
        return cubin;
    }

    static Path cacheDirectory() {
        String configured = System.getProperty("plaid.kernel.cache");
        return configured != null
                ? Path.of(configured)
                : Path.of(System.getProperty("user.home"), ".cache", "plaid", "kernels");
    }

    private static String resource(String name) {
        try (InputStream in = KernelCompiler.class.getClassLoader().getResourceAsStream(RESOURCE_DIRECTORY + name)) {
            if (in == null)
                throw new CudaException("kernel source " + RESOURCE_DIRECTORY + name + " is not on the class path");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String cacheKey(List<String> options, Map<String, String> headers, String source) {
        try {
            MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
            for (String option : options) sha256.update((option + "\0").getBytes(StandardCharsets.UTF_8));
            headers.forEach(
                    (name, text) -> sha256.update((name + "\0" + text + "\0").getBytes(StandardCharsets.UTF_8)));
            sha256.update(source.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(sha256.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    /** Written to a temporary file and moved, so that concurrent processes never read half a CUBIN; a cache that cannot be written is skipped. */
    private static void store(Path target, byte[] cubin) {
        try {
            Files.createDirectories(target.getParent());
            Path temporary = Files.createTempFile(
                    target.getParent(), target.getFileName().toString(), ".tmp");
            Files.write(temporary, cubin);
            Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException notCached) {
            System.getLogger(KernelCompiler.class.getName())
                    .log(System.Logger.Level.WARNING, "could not cache kernel binary at " + target + ": " + notCached);
        }
    }

    private static byte[] compile(String name, String source, Map<String, String> headers, List<String> options) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment headerSources = arena.allocate(ADDRESS, headers.size());
            MemorySegment headerNames = arena.allocate(ADDRESS, headers.size());
            int h = 0;
            for (Map.Entry<String, String> header : headers.entrySet()) {
                headerNames.setAtIndex(ADDRESS, h, arena.allocateFrom(header.getKey()));
                headerSources.setAtIndex(ADDRESS, h, arena.allocateFrom(header.getValue()));
                h++;
            }
            MemorySegment programSlot = arena.allocate(ADDRESS);
            Nvrtc.check(
                    Nvrtc.nvrtcCreateProgram(
                            programSlot,
                            arena.allocateFrom(source),
                            arena.allocateFrom(name),
                            headers.size(),
                            headerSources,
                            headerNames),
                    "nvrtcCreateProgram(" + name + ")");
            MemorySegment program = programSlot.get(ADDRESS, 0);
            try {
                MemorySegment optionArray = arena.allocate(ADDRESS, options.size());
                for (int i = 0; i < options.size(); i++)
                    optionArray.setAtIndex(ADDRESS, i, arena.allocateFrom(options.get(i)));
                if (Nvrtc.nvrtcCompileProgram(program, options.size(), optionArray) != 0) {
                    throw new CudaException(
                            "NVRTC could not compile " + name + " with " + options + ":\n" + log(arena, program));
                }
                MemorySegment size = arena.allocate(JAVA_LONG);
                Nvrtc.check(Nvrtc.nvrtcGetCUBINSize(program, size), "nvrtcGetCUBINSize");
                MemorySegment cubin = arena.allocate(size.get(JAVA_LONG, 0));
                Nvrtc.check(Nvrtc.nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN");
                return cubin.toArray(JAVA_BYTE);
            } finally {
                Nvrtc.nvrtcDestroyProgram(programSlot);
            }
        }
    }

    private static String log(Arena arena, MemorySegment program) {
        MemorySegment size = arena.allocate(JAVA_LONG);
        Nvrtc.check(Nvrtc.nvrtcGetProgramLogSize(program, size), "nvrtcGetProgramLogSize");
        MemorySegment log = arena.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
        Nvrtc.check(Nvrtc.nvrtcGetProgramLog(program, log), "nvrtcGetProgramLog");
        return log.getString(0);
    }
}

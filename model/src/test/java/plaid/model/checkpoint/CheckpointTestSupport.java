package plaid.model.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import plaid.fixtures.FixtureRoot;
import plaid.tensor.HostTensor;

/** Shared by the checkpoint tests: fixture discovery, bit-exact comparison, and a Python oracle. */
final class CheckpointTestSupport {
    static final List<String> FIXTURE_KINDS = List.of("parity", "sampler");

    private CheckpointTestSupport() {}

    /** Files with the given suffix in every parity and sampler fixture directory; skips the test when there are none. */
    static List<Path> fixtureFiles(String suffix) throws IOException {
        List<Path> files = new ArrayList<>();
        for (String kind : FIXTURE_KINDS) {
            List<Path> directories = FixtureRoot.directories(kind);
            assumeFalse(directories.isEmpty(), FixtureRoot.missingReason(kind));
            for (Path directory : directories) {
                try (Stream<Path> children = Files.list(directory)) {
                    children.filter(p -> p.getFileName().toString().endsWith(suffix))
                            .sorted()
                            .forEach(files::add);
                }
            }
        }
        assumeFalse(files.isEmpty(), "no *" + suffix + " files in the fixtures");
        return files;
    }

    /** Same names in the same order, same dtypes and shapes, and the same bits in every element. */
    static void assertBitIdentical(Map<String, HostTensor> actual, Map<String, HostTensor> expected) {
        assertThat(actual.keySet()).containsExactlyElementsOf(expected.keySet());
        expected.forEach(
                (name, tensor) -> assertThat(sha256(actual.get(name))).as(name).isEqualTo(sha256(tensor)));
    }

    /** The digest of dtype, shape and little-endian element bytes. */
    static String sha256(HostTensor tensor) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            TensorBytes.write(tensor, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return tensor.dtype() + Arrays.toString(tensor.shape()) + ":" + digest(bytes.toByteArray());
    }

    static String digest(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A zip with the given entries, in order, for hand-made checkpoints. */
    static void writeZip(Path file, Map<String, byte[]> entries) throws IOException {
        try (OutputStream out = Files.newOutputStream(file);
                ZipOutputStream zip = new ZipOutputStream(out)) {
            for (Map.Entry<String, byte[]> entry : entries.entrySet()) {
                zip.putNextEntry(new ZipEntry(entry.getKey()));
                zip.write(entry.getValue());
                zip.closeEntry();
            }
        }
    }

    /**
     * Loads a torch.save file with Python's own pickle module (globals stubbed, storages
     * gathered by Python code), after checking pickletools can disassemble its pickle.
     * Returns each tensor's {@link #sha256} string. Skips the test without python3.
     */
    static Map<String, String> loadWithPython(Path checkpoint) throws IOException, InterruptedException {
        Process process;
        try {
            process = new ProcessBuilder("python3", "-c", PYTHON_ORACLE, checkpoint.toString())
                    .redirectErrorStream(true)
                    .start();
        } catch (IOException e) {
            assumeTrue(false, "python3 is not available: " + e.getMessage());
            throw e;
        }
        String output = new String(process.getInputStream().readAllBytes());
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(output).isZero();
        return new ObjectMapper().readValue(output, new TypeReference<LinkedHashMap<String, String>>() {});
    }

    private static final String PYTHON_ORACLE = """
            import collections, hashlib, io, json, pickle, pickletools, sys, zipfile
            DTYPES = {'DoubleStorage': ('F64', 8), 'FloatStorage': ('F32', 4), 'HalfStorage': ('F16', 2),
                      'BFloat16Storage': ('BF16', 2), 'LongStorage': ('I64', 8), 'IntStorage': ('I32', 4),
                      'ShortStorage': ('I16', 2), 'CharStorage': ('I8', 1), 'ByteStorage': ('U8', 1), 'BoolStorage': ('BOOL', 1)}
            class StorageType:
                def __init__(self, name): self.name = name
            def rebuild(storage, offset, size, stride, requires_grad, hooks, metadata=None):
                (dtype, width), data = DTYPES[storage[0].name], storage[1]
                out, index = bytearray(), [0] * len(size)
                count, contiguous = 1, []
                for s in reversed(size):
                    contiguous.insert(0, count)
                    count *= s
                if list(stride) == contiguous:
                    return describe(dtype, size, data[offset * width:(offset + count) * width])
                for _ in range(count):
                    at = (offset + sum(i * st for i, st in zip(index, stride))) * width
                    out += data[at:at + width]
                    for d in reversed(range(len(size))):
                        index[d] += 1
                        if index[d] < size[d]: break
                        index[d] = 0
                return describe(dtype, size, out)
            def describe(dtype, size, data):
                return dtype + '[' + ', '.join(map(str, size)) + ']:' + hashlib.sha256(bytes(data)).hexdigest()
            archive = zipfile.ZipFile(sys.argv[1])
            pkl = next(n for n in archive.namelist() if n.endswith('/data.pkl'))
            prefix = pkl[:-len('data.pkl')]
            pickletools.dis(archive.read(pkl), out=io.StringIO())
            class Loader(pickle.Unpickler):
                def find_class(self, module, name):
                    if (module, name) == ('collections', 'OrderedDict'): return collections.OrderedDict
                    if (module, name) == ('torch._utils', '_rebuild_tensor_v2'): return rebuild
                    if module == 'torch' and name in DTYPES: return StorageType(name)
                    raise pickle.UnpicklingError(module + '.' + name)
                def persistent_load(self, pid):
                    assert pid[0] == 'storage'
                    return (pid[1], archive.read(prefix + 'data/' + pid[2]))
            print(json.dumps(Loader(io.BytesIO(archive.read(pkl))).load()))
            """;
}

package plaid.model.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static plaid.model.checkpoint.CheckpointTestSupport.assertBitIdentical;
import static plaid.model.checkpoint.CheckpointTestSupport.fixtureFiles;
import static plaid.model.checkpoint.CheckpointTestSupport.loadWithPython;
import static plaid.model.checkpoint.CheckpointTestSupport.sha256;
import static plaid.model.checkpoint.CheckpointTestSupport.writeZip;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import plaid.model.checkpoint.StateDictPickler.PickledTensor;
import plaid.tensor.HostTensor;

class TorchCheckpointTest {
    @TempDir
    Path temp;

    @Test
    void fixtureCheckpointsMatchPythonsUnpickler() throws Exception {
        for (Path checkpoint : fixtureFiles(".pt")) {
            assertThat(digests(TorchCheckpoint.read(checkpoint)))
                    .as(checkpoint.toString())
                    .isEqualTo(loadWithPython(checkpoint));
        }
    }

    @Test
    void fixtureGradientsNameEveryParameterWithItsShape() throws IOException {
        for (Path cases : fixtureFiles("cases.safetensors")) {
            Map<String, HostTensor> grads = Safetensors.read(cases);
            int matched = 0;
            for (String module : List.of("model", "noise_schedule", "gamma_bounds", "embedding_matrix")) {
                for (Map.Entry<String, HostTensor> parameter : TorchCheckpoint.read(
                                cases.resolveSibling(module + ".pt"))
                        .entrySet()) {
                    HostTensor grad = grads.get("grad." + module + "." + parameter.getKey());
                    if (grad == null) continue;
                    // The fixtures store the gradients of 0-d parameters with shape [1].
                    if (parameter.getValue().rank() > 0)
                        assertThat(grad.shape())
                                .as(parameter.getKey())
                                .isEqualTo(parameter.getValue().shape());
                    assertThat(grad.numel()).isEqualTo(parameter.getValue().numel());
                    matched++;
                }
            }
            assertThat(matched).as("parameters with a gradient in " + cases).isPositive();
        }
    }

    @Test
    void rewritingFixturesKeepsEveryTensor() throws Exception {
        for (Path original : fixtureFiles(".pt")) {
            LinkedHashMap<String, HostTensor> stateDict = TorchCheckpoint.read(original);
            Path rewritten = temp.resolve(original.getFileName());
            TorchCheckpoint.write(rewritten, stateDict);
            assertBitIdentical(TorchCheckpoint.read(rewritten), stateDict);
        }
    }

    @Test
    void pythonLoadsRewrittenFixturesAsTheOriginals() throws Exception {
        for (Path original : fixtureFiles(".pt")) {
            Path rewritten = temp.resolve(original.getFileName());
            TorchCheckpoint.write(rewritten, TorchCheckpoint.read(original));
            assertThat(loadWithPython(rewritten)).isEqualTo(loadWithPython(original));
        }
    }

    @Test
    void writesTorchSaveLayoutWithAlignedRecords() throws IOException {
        Path file = temp.resolve("gamma_bounds.pt");
        LinkedHashMap<String, HostTensor> stateDict = new LinkedHashMap<>();
        stateDict.put("gamma_0", HostTensor.ofFloats(new int[0], new float[] {-3f}));
        stateDict.put("gamma_1", HostTensor.ofFloats(new int[0], new float[] {6f}));
        TorchCheckpoint.write(file, stateDict);

        try (ZipFile zip = new ZipFile(file.toFile())) {
            assertThat(zip.stream().map(e -> e.getName()))
                    .containsExactly(
                            "gamma_bounds/data.pkl",
                            "gamma_bounds/.format_version",
                            "gamma_bounds/.storage_alignment",
                            "gamma_bounds/byteorder",
                            "gamma_bounds/data/0",
                            "gamma_bounds/data/1",
                            "gamma_bounds/version");
            assertThat(new String(
                            zip.getInputStream(zip.getEntry("gamma_bounds/version"))
                                    .readAllBytes(),
                            StandardCharsets.US_ASCII))
                    .isEqualTo("3\n");
            assertThat(new String(
                            zip.getInputStream(zip.getEntry("gamma_bounds/byteorder"))
                                    .readAllBytes(),
                            StandardCharsets.US_ASCII))
                    .isEqualTo("little");
        }
        assertThat(localEntryDataOffsets(Files.readAllBytes(file)))
                .allSatisfy(offset -> assertThat(offset % 64).isZero());
        assertBitIdentical(TorchCheckpoint.read(file), stateDict);

        byte[] first = Files.readAllBytes(file);
        TorchCheckpoint.write(file, stateDict);
        assertThat(Files.readAllBytes(file)).as("reproducible output").isEqualTo(first);
    }

    @Test
    void roundTripsEveryDType() throws IOException {
        LinkedHashMap<String, HostTensor> stateDict = SafetensorsTest.tensorsOfEveryDType();
        Path file = temp.resolve("all.pt");
        TorchCheckpoint.write(file, stateDict);
        assertBitIdentical(TorchCheckpoint.read(file), stateDict);
    }

    @Test
    void copiesViewsOfSharedStoragesIntoContiguousTensors() throws Exception {
        // One storage of 0..11 seen as a 3x4 matrix, its transpose, a strided column and a scalar at an offset.
        float[] storage = new float[12];
        for (int i = 0; i < storage.length; i++) storage[i] = i;
        List<PickledTensor> views = List.of(
                new PickledTensor("matrix", "FloatStorage", "0", 12, 0, new int[] {3, 4}, new long[] {4, 1}),
                new PickledTensor("transposed", "FloatStorage", "0", 12, 0, new int[] {4, 3}, new long[] {1, 4}),
                new PickledTensor("column2", "FloatStorage", "0", 12, 2, new int[] {3}, new long[] {4}),
                new PickledTensor("scalar7", "FloatStorage", "0", 12, 7, new int[0], new long[0]));
        Path file = temp.resolve("views.pt");
        writeZip(file, Map.of("views/data.pkl", StateDictPickler.pickle(views), "views/data/0", littleEndian(storage)));

        Map<String, HostTensor> read = TorchCheckpoint.read(file);
        assertThat(read.get("matrix").toFloats()).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
        assertThat(read.get("transposed").shape()).containsExactly(4, 3);
        assertThat(read.get("transposed").toFloats()).containsExactly(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11);
        assertThat(read.get("column2").toFloats()).containsExactly(2, 6, 10);
        assertThat(read.get("scalar7").rank()).isZero();
        assertThat(read.get("scalar7").scalar()).isEqualTo(7);
        assertThat(digests(read)).isEqualTo(loadWithPython(file));
    }

    @Test
    void refusesDisallowedGlobal() throws IOException {
        // GLOBAL 'os system', BINUNICODE 'echo pwned', TUPLE1, REDUCE, STOP: what a malicious checkpoint runs.
        ByteArrayOutputStream pickle = pickleStart();
        pickle.writeBytes("cos\nsystem\n".getBytes(StandardCharsets.US_ASCII));
        writeBinUnicode(pickle, "echo pwned");
        pickle.writeBytes(new byte[] {(byte) 0x85, 'R', '.'});
        Path file = checkpointWithPickle("evil", pickle.toByteArray());

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(DisallowedPickleGlobalException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("disallowed pickle global os.system")
                .extracting(e -> ((DisallowedPickleGlobalException) e).global())
                .isEqualTo("os.system");
    }

    @Test
    void refusesDisallowedStackGlobal() throws IOException {
        ByteArrayOutputStream pickle = pickleStart();
        writeBinUnicode(pickle, "builtins");
        writeBinUnicode(pickle, "eval");
        pickle.writeBytes(new byte[] {(byte) 0x93, '.'});
        Path file = checkpointWithPickle("evil", pickle.toByteArray());

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(DisallowedPickleGlobalException.class)
                .hasMessageContaining("disallowed pickle global builtins.eval");
    }

    @Test
    void reportsTruncatedZip() throws IOException {
        Path file = smallCheckpoint();
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(bytes, bytes.length / 2));

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("not a readable zip archive");
    }

    @Test
    void reportsCorruptStorageBytes() throws IOException {
        float[] pattern = {1.25f, -7.5f, 3.0e-3f, 42f};
        LinkedHashMap<String, HostTensor> stateDict = new LinkedHashMap<>();
        stateDict.put("w", HostTensor.ofFloats(new int[] {4}, pattern));
        Path file = temp.resolve("flipped.pt");
        TorchCheckpoint.write(file, stateDict);
        byte[] bytes = Files.readAllBytes(file);
        int at = indexOf(bytes, littleEndian(pattern));
        bytes[at + 5] ^= 0x10;
        Files.write(file, bytes);

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("corrupt zip entry flipped/data/0: its CRC-32 does not match");
    }

    @Test
    void reportsFileThatIsNotAZip() throws IOException {
        Path file = temp.resolve("garbage.pt");
        Files.writeString(file, "this is not a zip archive, just text long enough to look like something");

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("not a readable zip archive");
    }

    @Test
    void reportsZipWithoutPickle() throws IOException {
        Path file = temp.resolve("other.pt");
        writeZip(file, Map.of("other/readme.txt", new byte[] {1}));

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("no <archive>/data.pkl entry");
    }

    @Test
    void reportsTruncatedPickle() throws IOException {
        byte[] pickle = StateDictPickler.pickle(List.of(scalarView("x", "0")));
        Path file = checkpointWithPickle("cut", Arrays.copyOf(pickle, pickle.length - 20));

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("cut/data.pkl")
                .hasMessageMatching(".*(truncated|without a STOP).*");
    }

    @Test
    void reportsUnsupportedOpcode() throws IOException {
        Path file = checkpointWithPickle("odd", new byte[] {(byte) 0x80, 2, 'N', '.'});

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("odd/data.pkl at byte 2: unsupported pickle opcode 0x4e");
    }

    @Test
    void reportsMissingStorageEntry() throws IOException {
        Path file = checkpointWithPickle(
                "lost",
                StateDictPickler.pickle(List.of(scalarView("x", "0"), scalarView("y", "1"))),
                "lost/data/0",
                littleEndian(new float[] {1f}));

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("missing data entry lost/data/1");
    }

    @Test
    void reportsStorageShorterThanDeclared() throws IOException {
        PickledTensor vector = new PickledTensor("v", "FloatStorage", "0", 4, 0, new int[] {4}, new long[] {1});
        Path file = checkpointWithPickle(
                "short", StateDictPickler.pickle(List.of(vector)), "short/data/0", littleEndian(new float[] {1f, 2f}));

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining(
                        "storage entry short/data/0 holds 8 bytes, but the pickle declares 4 elements of F32");
    }

    @Test
    void reportsViewOutsideItsStorage() throws IOException {
        PickledTensor view = new PickledTensor("v", "FloatStorage", "0", 4, 2, new int[] {3}, new long[] {1});
        Path file = checkpointWithPickle(
                "wide", StateDictPickler.pickle(List.of(view)), "wide/data/0", littleEndian(new float[4]));

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("reaches outside storage 0 of 4 elements");
    }

    @Test
    void reportsPickleThatIsNotAStateDict() throws IOException {
        ByteArrayOutputStream pickle = pickleStart();
        pickle.write('}');
        writeBinUnicode(pickle, "name");
        writeBinUnicode(pickle, "not a tensor");
        pickle.writeBytes(new byte[] {'s', '.'});
        Path file = checkpointWithPickle("dict", pickle.toByteArray());

        assertThatThrownBy(() -> TorchCheckpoint.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("maps the string 'name' to the string 'not a tensor'");
    }

    private static Map<String, String> digests(Map<String, HostTensor> stateDict) {
        Map<String, String> digests = new LinkedHashMap<>();
        stateDict.forEach((name, tensor) -> digests.put(name, sha256(tensor)));
        return digests;
    }

    private Path smallCheckpoint() throws IOException {
        Path file = temp.resolve("small.pt");
        LinkedHashMap<String, HostTensor> stateDict = new LinkedHashMap<>();
        stateDict.put("w", HostTensor.ofFloats(new int[] {64, 64}, new float[64 * 64]));
        TorchCheckpoint.write(file, stateDict);
        return file;
    }

    private static PickledTensor scalarView(String name, String storageKey) {
        return new PickledTensor(name, "FloatStorage", storageKey, 1, 0, new int[0], new long[0]);
    }

    /** A zip holding {@code <archive>/data.pkl} and the given further entries (name, bytes, name, bytes...). */
    private Path checkpointWithPickle(String archive, byte[] pickle, Object... entries) throws IOException {
        Map<String, byte[]> contents = new LinkedHashMap<>();
        contents.put(archive + "/data.pkl", pickle);
        for (int i = 0; i < entries.length; i += 2) contents.put((String) entries[i], (byte[]) entries[i + 1]);
        Path file = temp.resolve(archive + ".pt");
        writeZip(file, contents);
        return file;
    }

    private static ByteArrayOutputStream pickleStart() {
        ByteArrayOutputStream pickle = new ByteArrayOutputStream();
        pickle.writeBytes(new byte[] {(byte) 0x80, 2});
        return pickle;
    }

    private static void writeBinUnicode(ByteArrayOutputStream pickle, String value) {
        byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
        pickle.write('X');
        pickle.writeBytes(ByteBuffer.allocate(4)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putInt(utf8.length)
                .array());
        pickle.writeBytes(utf8);
    }

    private static byte[] littleEndian(float[] values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float value : values) buffer.putFloat(value);
        return buffer.array();
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            if (Arrays.equals(haystack, i, i + needle.length, needle, 0, needle.length)) return i;
        }
        throw new AssertionError("pattern not found");
    }

    /** Where each entry's data starts, walking the local headers our writer emits (sizes in the header, no descriptors). */
    private static List<Long> localEntryDataOffsets(byte[] zip) {
        ByteBuffer in = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
        List<Long> offsets = new ArrayList<>();
        int at = 0;
        while (in.getInt(at) == 0x04034b50) {
            long dataStart = at + 30L + (in.getShort(at + 26) & 0xFFFF) + (in.getShort(at + 28) & 0xFFFF);
            offsets.add(dataStart);
            at = (int) (dataStart + in.getInt(at + 18));
        }
        assertThat(offsets).isNotEmpty();
        return offsets;
    }
}

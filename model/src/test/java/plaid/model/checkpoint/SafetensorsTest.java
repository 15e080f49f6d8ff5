package plaid.model.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static plaid.model.checkpoint.CheckpointTestSupport.assertBitIdentical;
import static plaid.model.checkpoint.CheckpointTestSupport.fixtureFiles;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import plaid.tensor.DType;
import plaid.tensor.HostTensor;

class SafetensorsTest {
    @TempDir
    Path temp;

    @Test
    void rewritingFixturesReproducesThemByteForByte() throws IOException {
        for (Path original : fixtureFiles(".safetensors")) {
            LinkedHashMap<String, HostTensor> tensors = Safetensors.read(original);
            assertThat(tensors).as(original.toString()).isNotEmpty();
            Path rewritten = temp.resolve(original.getFileName());
            Safetensors.write(rewritten, tensors, Safetensors.readMetadata(original));
            assertThat(Files.mismatch(rewritten, original))
                    .as(original.toString())
                    .isEqualTo(-1L);
        }
    }

    @Test
    void roundTripsEveryDTypeBitForBit() throws IOException {
        LinkedHashMap<String, HostTensor> tensors = tensorsOfEveryDType();
        Map<String, String> metadata = Map.of("format", "pt", "note", "ünïcode");
        Path file = temp.resolve("all.safetensors");
        Safetensors.write(file, tensors, metadata);

        assertBitIdentical(Safetensors.read(file), tensors);
        assertThat(Safetensors.readMetadata(file)).isEqualTo(metadata);
        assertThat(Files.readAllBytes(file))
                .startsWith(ByteBuffer.allocate(8)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putLong(headerLength(file))
                        .array());
        assertThat(headerLength(file) % 8).as("header padded to 8 bytes").isZero();
    }

    @Test
    void reportsFileTooShortForTheHeaderLength() throws IOException {
        Path file = temp.resolve("tiny.safetensors");
        Files.write(file, new byte[] {1, 2, 3});

        assertThatThrownBy(() -> Safetensors.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("too short");
    }

    @Test
    void reportsHeaderLongerThanTheFile() throws IOException {
        Path file = temp.resolve("cut.safetensors");
        Safetensors.write(file, tensorsOfEveryDType());
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(bytes, 8 + (int) headerLength(file) / 2));

        assertThatThrownBy(() -> Safetensors.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("exceeds the")
                .hasMessageContaining("truncated file?");
    }

    @Test
    void reportsDataSectionCutShort() throws IOException {
        Path file = temp.resolve("cut.safetensors");
        Safetensors.write(file, tensorsOfEveryDType());
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(bytes, bytes.length - 3));

        assertThatThrownBy(() -> Safetensors.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("beyond the data section");
    }

    @Test
    void reportsInvalidJson() throws IOException {
        Path file = rawFile("{\"a\": {\"dtype\": ", new byte[0]);

        assertThatThrownBy(() -> Safetensors.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("header is not valid JSON");
    }

    @Test
    void reportsDuplicateTensorName() throws IOException {
        Path file = rawFile("""
                {"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}""", new byte[2]);

        assertThatThrownBy(() -> Safetensors.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("Duplicate field 'a'");
    }

    @Test
    void reportsUnknownDType() throws IOException {
        Path file = rawFile("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", new byte[2]);

        assertThatThrownBy(() -> Safetensors.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("tensor 'a': unknown dtype F8_E4M3");
    }

    @Test
    void reportsOffsetsThatDisagreeWithTheShape() throws IOException {
        Path file = rawFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", new byte[4]);

        assertThatThrownBy(() -> Safetensors.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("tensor 'a': data_offsets span 4 bytes but 2 elements of F32 need 8");
    }

    @Test
    void reportsOverlappingTensors() throws IOException {
        Path file = rawFile("""
                {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", new byte[12]);

        assertThatThrownBy(() -> Safetensors.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("tensors 'a' and 'b' overlap at byte 4");
    }

    @Test
    void reportsOffsetsOutOfRange() throws IOException {
        Path file = rawFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[4]);

        assertThatThrownBy(() -> Safetensors.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("tensor 'a' ends at byte 8 beyond the data section of 4 bytes");
    }

    @Test
    void reportsNegativeOrReversedOffsets() throws IOException {
        Path file = rawFile("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,2]}}", new byte[4]);

        assertThatThrownBy(() -> Safetensors.read(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("are not an increasing byte range");
    }

    @Test
    void reportsBytesBelongingToNoTensor() throws IOException {
        Path gap = rawFile("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", new byte[2]);
        Path trailing = rawFile("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", new byte[2]);

        assertThatThrownBy(() -> Safetensors.read(gap))
                .hasMessageContaining("bytes 0..1 of the data section belong to no tensor");
        assertThatThrownBy(() -> Safetensors.read(trailing))
                .hasMessageContaining("1 bytes after the last tensor belong to no tensor");
    }

    @Test
    void reportsMetadataThatIsNotStrings() throws IOException {
        Path file = rawFile("{\"__metadata__\":{\"epoch\":3}}", new byte[0]);

        assertThatThrownBy(() -> Safetensors.readMetadata(file))
                .isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("__metadata__ value of 'epoch' is not a string");
    }

    /** One tensor per dtype, with the values that trip up conversions: signed zeros, NaN, infinities, subnormals, extremes. */
    static LinkedHashMap<String, HostTensor> tensorsOfEveryDType() {
        LinkedHashMap<String, HostTensor> tensors = new LinkedHashMap<>();
        tensors.put("f64", HostTensor.ofDoubles(DType.F64, new int[] {2, 4}, new double[] {
            0.0, -0.0, Double.NaN, Double.POSITIVE_INFINITY, Double.MIN_VALUE, Double.MAX_VALUE, Math.PI, -1e-300
        }));
        tensors.put("f32", HostTensor.ofFloats(new int[] {2, 2, 2}, new float[] {
            0f, -0f, Float.NaN, Float.NEGATIVE_INFINITY, Float.MIN_VALUE, Float.MAX_VALUE, (float) Math.E, -1.5f
        }));
        tensors.put("bf16", HostTensor.ofDoubles(DType.BF16, new int[] {6}, new double[] {
            1.0, -2.5, 0x1.fep127, Float.intBitsToFloat(0x00010000), Double.NEGATIVE_INFINITY, -0.0
        }));
        tensors.put("f16", HostTensor.ofDoubles(DType.F16, new int[] {6}, new double[] {
            1.0, -2.5, 65504.0, 0x1p-24, Double.POSITIVE_INFINITY, -0.0
        }));
        tensors.put(
                "i64", HostTensor.ofLongs(DType.I64, new int[] {3}, new long[] {Long.MIN_VALUE, -1, Long.MAX_VALUE}));
        tensors.put(
                "i32",
                HostTensor.ofLongs(DType.I32, new int[] {3}, new long[] {Integer.MIN_VALUE, -1, Integer.MAX_VALUE}));
        tensors.put(
                "i16", HostTensor.ofLongs(DType.I16, new int[] {3}, new long[] {Short.MIN_VALUE, -1, Short.MAX_VALUE}));
        tensors.put("i8", HostTensor.ofLongs(DType.I8, new int[] {3}, new long[] {Byte.MIN_VALUE, -1, Byte.MAX_VALUE}));
        tensors.put("u8", HostTensor.ofLongs(DType.U8, new int[] {3}, new long[] {0, 128, 255}));
        tensors.put("bool", HostTensor.ofLongs(DType.BOOL, new int[] {2}, new long[] {0, 1}));
        tensors.put("scalar", HostTensor.ofDoubles(DType.F32, new int[0], new double[] {6.0}));
        tensors.put("empty", HostTensor.ofDoubles(DType.F32, new int[] {0, 3}, new double[0]));
        return tensors;
    }

    private static long headerLength(Path file) throws IOException {
        byte[] start = Arrays.copyOf(Files.readAllBytes(file), 8);
        return ByteBuffer.wrap(start).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    private Path rawFile(String header, byte[] data) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.writeBytes(ByteBuffer.allocate(8)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(json.length)
                .array());
        bytes.writeBytes(json);
        bytes.writeBytes(data);
        Path file = Files.createTempFile(temp, "raw", ".safetensors");
        Files.write(file, bytes.toByteArray());
        return file;
    }
}

package plaid.model.checkpoint;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import plaid.tensor.DType;
import plaid.tensor.HostTensor;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping each
 * tensor name to its dtype, shape and byte range, then the raw little-endian data. Reading
 * validates the header as strictly as the reference implementation (known dtypes, byte
 * ranges that match the shapes and tile the data section exactly); writing produces the
 * same bytes as the reference implementation for tensors given in its order.
 */
public final class Safetensors {
    private static final String METADATA_KEY = "__metadata__";
    private static final int HEADER_LENGTH_BYTES = 8;
    /** The reference implementation pads the header with spaces to this multiple. */
    private static final int HEADER_ALIGNMENT = 8;

    private static final ObjectMapper JSON = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private Safetensors() {}

    /** Every tensor in the file, in the header's order. */
    public static LinkedHashMap<String, HostTensor> read(Path file) throws IOException {
        try (Arena arena = Arena.ofConfined();
                FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment contents = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            Header header = readHeader(file, contents);
            LinkedHashMap<String, HostTensor> tensors = new LinkedHashMap<>();
            for (TensorEntry entry : header.tensors()) {
                MemorySegment data = contents.asSlice(header.dataStart() + entry.begin(), entry.end() - entry.begin());
                tensors.put(entry.name(), TensorBytes.readContiguous(entry.dtype(), data, entry.shape()));
            }
            return tensors;
        }
    }

    /** The header's {@code __metadata__} string map; empty when it has none. */
    public static Map<String, String> readMetadata(Path file) throws IOException {
        try (Arena arena = Arena.ofConfined();
                FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return readHeader(file, channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena))
                    .metadata();
        }
    }

    public static void write(Path file, SequencedMap<String, HostTensor> tensors) throws IOException {
        write(file, tensors, Map.of());
    }

    /** Writes the tensors in map order, with {@code metadata} as the header's {@code __metadata__} when not empty. */
    public static void write(Path file, SequencedMap<String, HostTensor> tensors, Map<String, String> metadata)
            throws IOException {
        byte[] header = headerJson(tensors, metadata);
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file))) {
            out.write(ByteBuffer.allocate(HEADER_LENGTH_BYTES)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(header.length)
                    .array());
            out.write(header);
            for (HostTensor tensor : tensors.values()) TensorBytes.write(tensor, out);
        }
    }

    private static byte[] headerJson(SequencedMap<String, HostTensor> tensors, Map<String, String> metadata)
            throws JsonProcessingException {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) root.set(METADATA_KEY, JSON.valueToTree(metadata));
        long offset = 0;
        for (Map.Entry<String, HostTensor> named : tensors.entrySet()) {
            if (named.getKey().equals(METADATA_KEY))
                throw new IllegalArgumentException(METADATA_KEY + " cannot name a tensor");
            HostTensor tensor = named.getValue();
            ObjectNode entry = root.putObject(named.getKey());
            entry.put("dtype", tensor.dtype().name());
            var shape = entry.putArray("shape");
            for (int size : tensor.shape()) shape.add(size);
            long end = offset + TensorBytes.byteSize(tensor);
            entry.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = JSON.writeValueAsBytes(root);
        int padding = Math.floorMod(-json.length, HEADER_ALIGNMENT);
        return (new String(json, StandardCharsets.UTF_8) + " ".repeat(padding)).getBytes(StandardCharsets.UTF_8);
    }

    private record Header(long dataStart, List<TensorEntry> tensors, Map<String, String> metadata) {}

    private record TensorEntry(String name, DType dtype, int[] shape, long begin, long end) {}

    private static Header readHeader(Path file, MemorySegment contents) throws CheckpointFormatException {
        long fileSize = contents.byteSize();
        if (fileSize < HEADER_LENGTH_BYTES) {
            throw new CheckpointFormatException(
                    file, "file of " + fileSize + " bytes is too short for the 8-byte safetensors header length");
        }
        long headerLength = contents.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLength < 0 || headerLength > fileSize - HEADER_LENGTH_BYTES || headerLength > Integer.MAX_VALUE) {
            throw new CheckpointFormatException(
                    file,
                    "safetensors header length " + Long.toUnsignedString(headerLength) + " exceeds the "
                            + (fileSize - HEADER_LENGTH_BYTES) + " bytes after it (truncated file?)");
        }
        byte[] headerBytes = contents.asSlice(HEADER_LENGTH_BYTES, headerLength).toArray(ValueLayout.JAVA_BYTE);
        JsonNode root;
        try {
            root = JSON.readTree(headerBytes);
        } catch (JsonProcessingException e) {
            throw new CheckpointFormatException(
                    file, "safetensors header is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new IllegalStateException("reading JSON from a byte array cannot fail with I/O", e);
        }
        if (root == null || !root.isObject())
            throw new CheckpointFormatException(file, "safetensors header is not a JSON object");
        Map<String, String> metadata = Map.of();
        List<TensorEntry> tensors = new ArrayList<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            if (field.getKey().equals(METADATA_KEY)) metadata = parseMetadata(file, field.getValue());
            else tensors.add(parseEntry(file, field.getKey(), field.getValue()));
        }
        long dataStart = HEADER_LENGTH_BYTES + headerLength;
        checkTiling(file, tensors, fileSize - dataStart);
        return new Header(dataStart, tensors, metadata);
    }

    private static Map<String, String> parseMetadata(Path file, JsonNode node) throws CheckpointFormatException {
        if (!node.isObject()) throw new CheckpointFormatException(file, METADATA_KEY + " is not a JSON object");
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : node.properties()) {
            if (!field.getValue().isTextual()) {
                throw new CheckpointFormatException(
                        file, METADATA_KEY + " value of '" + field.getKey() + "' is not a string");
            }
            metadata.put(field.getKey(), field.getValue().textValue());
        }
        return metadata;
    }

    private static TensorEntry parseEntry(Path file, String name, JsonNode node) throws CheckpointFormatException {
        String where = "tensor '" + name + "': ";
        if (!node.isObject()) throw new CheckpointFormatException(file, where + "header entry is not a JSON object");
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual())
            throw new CheckpointFormatException(file, where + "missing dtype");
        DType dtype = parseDType(file, where, dtypeNode.textValue());
        JsonNode shapeNode = node.get("shape");
        if (shapeNode == null || !shapeNode.isArray())
            throw new CheckpointFormatException(file, where + "missing shape");
        int[] shape = new int[shapeNode.size()];
        for (int d = 0; d < shape.length; d++) {
            JsonNode size = shapeNode.get(d);
            if (!size.isIntegralNumber() || !size.canConvertToInt() || size.intValue() < 0) {
                throw new CheckpointFormatException(file, where + "shape entry " + size + " is not a non-negative int");
            }
            shape[d] = size.intValue();
        }
        JsonNode offsets = node.get("data_offsets");
        if (offsets == null
                || !offsets.isArray()
                || offsets.size() != 2
                || !isLong(offsets.get(0))
                || !isLong(offsets.get(1))) {
            throw new CheckpointFormatException(file, where + "data_offsets is not a pair of integers");
        }
        long begin = offsets.get(0).longValue();
        long end = offsets.get(1).longValue();
        if (begin < 0 || end < begin)
            throw new CheckpointFormatException(
                    file, where + "data_offsets [" + begin + ", " + end + "] are not an increasing byte range");
        long numel = HostTensor.numel(shape);
        if (numel > Integer.MAX_VALUE)
            throw new CheckpointFormatException(file, where + numel + " elements are more than a HostTensor holds");
        if (end - begin != numel * dtype.byteSize()) {
            throw new CheckpointFormatException(
                    file,
                    where + "data_offsets span " + (end - begin) + " bytes but " + numel + " elements of " + dtype
                            + " need " + numel * dtype.byteSize());
        }
        return new TensorEntry(name, dtype, shape, begin, end);
    }

    private static boolean isLong(JsonNode node) {
        return node.isIntegralNumber() && node.canConvertToLong();
    }

    private static DType parseDType(Path file, String where, String name) throws CheckpointFormatException {
        try {
            return DType.valueOf(name);
        } catch (IllegalArgumentException e) {
            throw new CheckpointFormatException(file, where + "unknown dtype " + name);
        }
    }

    /** The byte ranges must cover the data section exactly: no gap, no overlap, nothing past its end. */
    private static void checkTiling(Path file, List<TensorEntry> tensors, long dataLength)
            throws CheckpointFormatException {
        List<TensorEntry> byOffset = tensors.stream()
                .sorted(Comparator.comparingLong(TensorEntry::begin).thenComparingLong(TensorEntry::end))
                .toList();
        long covered = 0;
        String previous = null;
        for (TensorEntry entry : byOffset) {
            if (entry.begin() < covered) {
                throw new CheckpointFormatException(
                        file, "tensors '" + previous + "' and '" + entry.name() + "' overlap at byte " + entry.begin());
            }
            if (entry.begin() > covered) {
                throw new CheckpointFormatException(
                        file, "bytes " + covered + ".." + entry.begin() + " of the data section belong to no tensor");
            }
            if (entry.end() > dataLength) {
                throw new CheckpointFormatException(
                        file,
                        "tensor '" + entry.name() + "' ends at byte " + entry.end() + " beyond the data section of "
                                + dataLength + " bytes (truncated file?)");
            }
            covered = entry.end();
            previous = entry.name();
        }
        if (covered != dataLength) {
            throw new CheckpointFormatException(
                    file, (dataLength - covered) + " bytes after the last tensor belong to no tensor");
        }
    }
}

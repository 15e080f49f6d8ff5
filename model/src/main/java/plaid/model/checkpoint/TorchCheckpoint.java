package plaid.model.checkpoint;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.zip.CRC32;
import java.util.zip.CheckedOutputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import plaid.model.checkpoint.StateDictPickler.PickledTensor;
import plaid.tensor.DType;
import plaid.tensor.HostTensor;

/**
 * PyTorch's torch.save format for state dicts: a zip of stored entries under one folder
 * (the archive name), holding {@code data.pkl} (a protocol-2 pickle of an OrderedDict of
 * tensors), one raw little-endian storage per {@code data/<key>}, and {@code version} and
 * {@code byteorder} records.
 *
 * <p>Reading runs the pickle in {@link RestrictedUnpickler}, which accepts only
 * {@code collections.OrderedDict}, {@code torch._utils._rebuild_tensor_v2} and the
 * {@code torch.*Storage} classes; views (storage offsets, strides, storages shared by
 * several tensors) are copied into contiguous tensors. Writing gives every tensor its own
 * contiguous storage, in the layout torch.save produces, so torch.load accepts the file.
 */
public final class TorchCheckpoint {
    private static final Map<DType, String> STORAGE_CLASSES = new EnumMap<>(Map.of(
            DType.F64,
            "DoubleStorage",
            DType.F32,
            "FloatStorage",
            DType.F16,
            "HalfStorage",
            DType.BF16,
            "BFloat16Storage",
            DType.I64,
            "LongStorage",
            DType.I32,
            "IntStorage",
            DType.I16,
            "ShortStorage",
            DType.I8,
            "CharStorage",
            DType.U8,
            "ByteStorage",
            DType.BOOL,
            "BoolStorage"));
    private static final Map<String, Object> ALLOWED_GLOBALS = allowedGlobals();
    private static final String PICKLE = "data.pkl";
    private static final String BYTE_ORDER = "byteorder";
    private static final String LITTLE_ENDIAN = "little";
    /** A state dict's pickle is names and shapes: a few KB a hundred tensors. Far more is a decompression bomb, not a checkpoint. */
    static final int MAX_PICKLE_BYTES = 16 << 20;
    /** The byteorder record and its like hold a word. */
    private static final int MAX_RECORD_BYTES = 64;
    /** The most one storage entry may hold: what one byte array holds. */
    private static final long MAX_ENTRY_BYTES = Integer.MAX_VALUE - 8;
    /** Each decoded element is held as a double or a long (HostTensor). */
    private static final long DECODED_ELEMENT_BYTES = 8;
    /** torch.save aligns each record's data to this many bytes, so storages can be memory-mapped. */
    private static final int RECORD_ALIGNMENT = 64;
    /** A fixed entry time keeps written files reproducible; 00:00:00 would make the JDK add a timestamp field. */
    private static final LocalDateTime ENTRY_TIME = LocalDateTime.of(1980, 1, 1, 0, 0, 2);

    private TorchCheckpoint() {}

    /** The stand-in for an allow-listed {@code torch.<Type>Storage} class. */
    private record StorageClass(DType dtype) {}

    /** A storage that the pickle refers to by persistent id, read from {@code data/<key>} afterwards. */
    private record StorageRef(DType dtype, String key, long numel) {}

    /** What {@code _rebuild_tensor_v2} returns: a checked view of a storage, in elements. */
    private record TensorView(StorageRef storage, long offset, int[] shape, long[] strides) {}

    /**
     * The state dict in the file's order, each tensor contiguous with its stored dtype. Nothing
     * is inflated beyond what the pickle's tensors need: {@code data.pkl} is capped, each
     * storage entry must declare and hold exactly its tensors' bytes, and a file whose tensors
     * need more memory than the heap has is refused before any storage is read.
     */
    public static LinkedHashMap<String, HostTensor> read(Path file) throws IOException {
        try (ZipFile zip = openZip(file)) {
            String prefix = archivePrefix(file, zip);
            checkByteOrder(file, zip, prefix);
            byte[] pickle = readEntry(file, zip, prefix + PICKLE, MAX_PICKLE_BYTES);
            Object root = new RestrictedUnpickler(file, prefix + PICKLE, ALLOWED_GLOBALS, TorchCheckpoint::storageRef)
                    .load(pickle);
            if (!(root instanceof Map<?, ?> entries)) {
                throw new CheckpointFormatException(
                        file, prefix + PICKLE + " holds " + RestrictedUnpickler.describe(root) + ", not a state dict");
            }
            LinkedHashMap<String, TensorView> views = new LinkedHashMap<>();
            for (Map.Entry<?, ?> entry : entries.entrySet()) {
                if (!(entry.getKey() instanceof String name) || !(entry.getValue() instanceof TensorView view)) {
                    throw new CheckpointFormatException(
                            file,
                            prefix + PICKLE + " maps " + RestrictedUnpickler.describe(entry.getKey()) + " to "
                                    + RestrictedUnpickler.describe(entry.getValue())
                                    + "; a state dict maps names to tensors");
                }
                views.put(name, view);
            }
            checkFitsTheHeap(file, views.values());
            // Keyed by the whole reference, so a storage seen with another dtype or size is size-checked again.
            Map<StorageRef, MemorySegment> storages = new HashMap<>();
            LinkedHashMap<String, HostTensor> stateDict = new LinkedHashMap<>();
            for (Map.Entry<String, TensorView> entry : views.entrySet()) {
                TensorView view = entry.getValue();
                MemorySegment storage = storages.get(view.storage());
                if (storage == null) {
                    storage = readStorage(file, zip, prefix, view.storage());
                    storages.put(view.storage(), storage);
                }
                stateDict.put(
                        entry.getKey(),
                        TensorBytes.readView(
                                view.storage().dtype(), storage, view.offset(), view.shape(), view.strides()));
            }
            return stateDict;
        }
    }

    /** Refuses a file whose storages and decoded tensors together need more than the heap can ever hold. */
    private static void checkFitsTheHeap(Path file, Collection<TensorView> views) throws CheckpointFormatException {
        long storageBytes = views.stream()
                .map(TensorView::storage)
                .distinct()
                .mapToLong(TorchCheckpoint::byteSize)
                .reduce(0, TorchCheckpoint::saturatingAdd);
        long decodedBytes = views.stream()
                .mapToLong(view -> HostTensor.numel(view.shape()) * DECODED_ELEMENT_BYTES)
                .reduce(0, TorchCheckpoint::saturatingAdd);
        long need = saturatingAdd(storageBytes, decodedBytes),
                heap = Runtime.getRuntime().maxMemory();
        if (need > heap) {
            throw new CheckpointFormatException(
                    file,
                    "its tensors need " + need + " bytes to read (" + storageBytes + " of storages), more than the "
                            + heap + " bytes of this process's heap");
        }
    }

    private static long byteSize(StorageRef storage) {
        return Math.multiplyHigh(storage.numel(), storage.dtype().byteSize()) != 0
                ? Long.MAX_VALUE
                : storage.numel() * storage.dtype().byteSize();
    }

    private static long saturatingAdd(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    /**
     * Writes the state dict as torch.save would, with the archive folder named after the
     * file (as torch.save does: {@code model.pt} → {@code model/}) and storages on the CPU.
     */
    public static void write(Path file, SequencedMap<String, HostTensor> stateDict) throws IOException {
        String fileName = file.getFileName().toString();
        String archive = fileName.contains(".") ? fileName.substring(0, fileName.lastIndexOf('.')) : fileName;
        List<PickledTensor> pickled = new ArrayList<>();
        for (Map.Entry<String, HostTensor> entry : stateDict.entrySet()) {
            HostTensor tensor = entry.getValue();
            pickled.add(new PickledTensor(
                    entry.getKey(),
                    STORAGE_CLASSES.get(tensor.dtype()),
                    Integer.toString(pickled.size()),
                    tensor.numel(),
                    0,
                    tensor.shape(),
                    TensorBytes.contiguousStrides(tensor.shape())));
        }
        try (AlignedZipWriter zip = new AlignedZipWriter(Files.newOutputStream(file))) {
            zip.add(archive + "/" + PICKLE, StateDictPickler.pickle(pickled));
            zip.add(archive + "/.format_version", ascii("1"));
            zip.add(archive + "/.storage_alignment", ascii(Integer.toString(RECORD_ALIGNMENT)));
            zip.add(archive + "/" + BYTE_ORDER, ascii(LITTLE_ENDIAN));
            for (PickledTensor tensor : pickled)
                zip.add(archive + "/data/" + tensor.storageKey(), stateDict.get(tensor.name()));
            zip.add(archive + "/version", ascii("3\n"));
        }
    }

    private static Map<String, Object> allowedGlobals() {
        Map<String, Object> globals = new HashMap<>();
        globals.put("collections.OrderedDict", (RestrictedUnpickler.Callable) TorchCheckpoint::newOrderedDict);
        globals.put("torch._utils._rebuild_tensor_v2", (RestrictedUnpickler.Callable) TorchCheckpoint::rebuildTensor);
        STORAGE_CLASSES.forEach((dtype, name) -> globals.put("torch." + name, new StorageClass(dtype)));
        return Map.copyOf(globals);
    }

    private static Object newOrderedDict(List<Object> args) throws PickleException {
        if (!args.isEmpty()) throw new PickleException("OrderedDict called with arguments");
        return new LinkedHashMap<>();
    }

    /** Persistent ids are {@code ('storage', storage class, key, location, numel)}. */
    private static StorageRef storageRef(Object persistentId) throws PickleException {
        if (!(persistentId instanceof List<?> id) || id.size() != 5 || !"storage".equals(id.get(0))) {
            throw new PickleException(
                    "persistent id " + RestrictedUnpickler.describe(persistentId) + " is not a ('storage', ...) tuple");
        }
        StorageClass type = expect(id.get(1), StorageClass.class, "storage class");
        String key = expect(id.get(2), String.class, "storage key");
        long numel = expect(id.get(4), Long.class, "storage size");
        if (numel < 0) throw new PickleException("storage " + key + " has negative size " + numel);
        return new StorageRef(type.dtype(), key, numel);
    }

    /** {@code _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata])}. */
    private static TensorView rebuildTensor(List<Object> args) throws PickleException {
        if (args.size() != 6 && args.size() != 7)
            throw new PickleException("_rebuild_tensor_v2 called with " + args.size() + " arguments");
        StorageRef storage = expect(args.get(0), StorageRef.class, "tensor storage");
        long offset = expect(args.get(1), Long.class, "storage offset");
        List<?> size = expect(args.get(2), List.class, "tensor size");
        List<?> stride = expect(args.get(3), List.class, "tensor stride");
        if (size.size() != stride.size())
            throw new PickleException("tensor size " + size + " and stride " + stride + " differ in rank");
        int[] shape = new int[size.size()];
        long[] strides = new long[size.size()];
        long lastElement = offset;
        for (int d = 0; d < shape.length; d++) {
            long extent = expect(size.get(d), Long.class, "tensor size entry");
            strides[d] = expect(stride.get(d), Long.class, "tensor stride entry");
            if (extent < 0 || extent > Integer.MAX_VALUE || strides[d] < 0) {
                throw new PickleException("tensor size " + size + " / stride " + stride + " out of range");
            }
            shape[d] = (int) extent;
            lastElement += (extent - 1) * strides[d];
        }
        long numel = HostTensor.numel(shape);
        if (numel > Integer.MAX_VALUE)
            throw new PickleException("tensor of " + numel + " elements is more than a HostTensor holds");
        if (numel > 0 && (offset < 0 || lastElement >= storage.numel())) {
            throw new PickleException("tensor view (offset " + offset + ", size " + size + ", stride " + stride
                    + ") reaches outside storage " + storage.key() + " of " + storage.numel() + " elements");
        }
        return new TensorView(storage, offset, shape, strides);
    }

    private static <T> T expect(Object value, Class<T> type, String role) throws PickleException {
        if (!type.isInstance(value)) throw new PickleException(role + " is " + RestrictedUnpickler.describe(value));
        return type.cast(value);
    }

    private static ZipFile openZip(Path file) throws IOException {
        try {
            return new ZipFile(file.toFile());
        } catch (ZipException e) {
            throw new CheckpointFormatException(
                    file, "not a readable zip archive, as torch.save writes (" + e.getMessage() + ")", e);
        }
    }

    /** The folder holding {@code data.pkl}; torch.save names it after the file it wrote. */
    private static String archivePrefix(Path file, ZipFile zip) throws CheckpointFormatException {
        return zip.stream()
                .map(ZipEntry::getName)
                .filter(name -> name.endsWith("/" + PICKLE) && name.indexOf('/') == name.length() - PICKLE.length() - 1)
                .findFirst()
                .map(name -> name.substring(0, name.length() - PICKLE.length()))
                .orElseThrow(() -> new CheckpointFormatException(
                        file, "no <archive>/" + PICKLE + " entry; not a torch.save checkpoint"));
    }

    private static void checkByteOrder(Path file, ZipFile zip, String prefix) throws IOException {
        // Files from before the byteorder record were written little-endian.
        if (zip.getEntry(prefix + BYTE_ORDER) == null) return;
        String order = new String(
                        readEntry(file, zip, prefix + BYTE_ORDER, MAX_RECORD_BYTES), StandardCharsets.US_ASCII)
                .strip();
        if (!order.equals(LITTLE_ENDIAN))
            throw new CheckpointFormatException(
                    file, "byte order '" + order + "' is not supported, only little-endian");
    }

    private static MemorySegment readStorage(Path file, ZipFile zip, String prefix, StorageRef storage)
            throws IOException {
        String name = prefix + "data/" + storage.key();
        long expected = byteSize(storage);
        ZipEntry entry = zip.getEntry(name);
        if (entry == null) throw new CheckpointFormatException(file, "missing data entry " + name);
        if (expected > MAX_ENTRY_BYTES) {
            throw new CheckpointFormatException(
                    file,
                    "storage entry " + name + " of " + expected + " bytes is larger than one read holds ("
                            + MAX_ENTRY_BYTES + ")");
        }
        if (entry.getSize() != -1 && entry.getSize() != expected) {
            throw new CheckpointFormatException(
                    file,
                    "storage entry " + name + " holds " + entry.getSize() + " bytes, but the pickle declares "
                            + storage.numel() + " elements of " + storage.dtype() + " (" + expected + " bytes)");
        }
        byte[] bytes = readEntry(file, zip, name, expected);
        if (bytes.length != expected) {
            throw new CheckpointFormatException(
                    file,
                    "storage entry " + name + " holds " + bytes.length + " bytes, but the pickle declares "
                            + storage.numel() + " elements of " + storage.dtype() + " (" + expected + " bytes)");
        }
        return MemorySegment.ofArray(bytes);
    }

    /**
     * The entry's bytes, refused (before inflating anything) when it declares more than
     * {@code limit}, and (without inflating more than one byte past it) when it holds more.
     */
    private static byte[] readEntry(Path file, ZipFile zip, String name, long limit) throws IOException {
        ZipEntry entry = zip.getEntry(name);
        if (entry == null) throw new CheckpointFormatException(file, "missing data entry " + name);
        if (entry.getSize() > limit)
            throw new CheckpointFormatException(
                    file,
                    "zip entry " + name + " declares " + entry.getSize() + " bytes, more than the " + limit
                            + " it may hold");
        byte[] bytes;
        try (InputStream in = zip.getInputStream(entry)) {
            bytes = in.readNBytes((int) limit);
            if (in.read() != -1)
                throw new CheckpointFormatException(
                        file, "zip entry " + name + " inflates to more than the " + limit + " bytes it may hold");
        } catch (ZipException e) {
            throw new CheckpointFormatException(file, "corrupt zip entry " + name + " (" + e.getMessage() + ")", e);
        }
        // The JDK does not check stored entries against their CRC-32; torch.load's zip reader does.
        CRC32 crc = new CRC32();
        crc.update(bytes);
        if (entry.getCrc() != -1 && crc.getValue() != entry.getCrc()) {
            throw new CheckpointFormatException(
                    file, "corrupt zip entry " + name + ": its CRC-32 does not match its contents");
        }
        return bytes;
    }

    private static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    /** Writes stored (uncompressed) zip entries whose data start on {@link #RECORD_ALIGNMENT}-byte boundaries. */
    private static final class AlignedZipWriter implements AutoCloseable {
        /** Local file header size before the name, fixed by the zip format. */
        private static final int LOCAL_HEADER_BYTES = 30;
        /** Header of the padding extra field: id "FB" (as torch.save spells it) and a 2-byte length. */
        private static final int PADDING_FIELD_HEADER_BYTES = 4;

        private final CountingOutputStream counted;
        private final ZipOutputStream zip;

        AlignedZipWriter(OutputStream out) {
            counted = new CountingOutputStream(new BufferedOutputStream(out));
            zip = new ZipOutputStream(counted);
        }

        void add(String name, byte[] data) throws IOException {
            CRC32 crc = new CRC32();
            crc.update(data);
            startEntry(name, data.length, crc.getValue());
            zip.write(data);
            zip.closeEntry();
        }

        void add(String name, HostTensor tensor) throws IOException {
            // The CRC must precede the data in a stored entry's header: encode twice rather than hold the bytes.
            CRC32 crc = new CRC32();
            TensorBytes.write(tensor, new CheckedOutputStream(OutputStream.nullOutputStream(), crc));
            startEntry(name, TensorBytes.byteSize(tensor), crc.getValue());
            TensorBytes.write(tensor, zip);
            zip.closeEntry();
        }

        private void startEntry(String name, long size, long crc) throws IOException {
            ZipEntry entry = new ZipEntry(name);
            entry.setMethod(ZipEntry.STORED);
            entry.setSize(size);
            entry.setCompressedSize(size);
            entry.setCrc(crc);
            entry.setTimeLocal(ENTRY_TIME);
            entry.setExtra(alignmentPadding(name));
            zip.putNextEntry(entry);
        }

        private byte[] alignmentPadding(String name) {
            long unpaddedDataStart = counted.count
                    + LOCAL_HEADER_BYTES
                    + name.getBytes(StandardCharsets.UTF_8).length
                    + PADDING_FIELD_HEADER_BYTES;
            int padding = (int) Math.floorMod(-unpaddedDataStart, (long) RECORD_ALIGNMENT);
            byte[] field = new byte[PADDING_FIELD_HEADER_BYTES + padding];
            field[0] = 'F';
            field[1] = 'B';
            field[2] = (byte) padding;
            field[3] = (byte) (padding >>> 8);
            Arrays.fill(field, PADDING_FIELD_HEADER_BYTES, field.length, (byte) 'Z');
            return field;
        }

        @Override
        public void close() throws IOException {
            zip.close();
        }
    }

    /** Tracks the archive offset, which the alignment padding depends on. */
    private static final class CountingOutputStream extends FilterOutputStream {
        private long count;

        CountingOutputStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }
}

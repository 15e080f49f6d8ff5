package plaid.model.checkpoint;

import static plaid.model.checkpoint.PickleOpcodes.*;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntToLongFunction;

/**
 * Writes the pickle torch.save makes of a state dict: protocol 2, an OrderedDict whose values
 * are {@code torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}
 * with each storage a persistent id {@code ('storage', torch.<Type>Storage, key, location, numel)}.
 */
final class StateDictPickler {
    /** One state dict entry: a view of the storage stored under {@code storageKey}. */
    record PickledTensor(
            String name,
            String storageClass,
            String storageKey,
            long storageNumel,
            long storageOffset,
            int[] shape,
            long[] strides) {}

    private static final String ORDERED_DICT = "collections\nOrderedDict\n";
    private static final String REBUILD_TENSOR = "torch._utils\n_rebuild_tensor_v2\n";
    /** Where torch.load will place the storages unless given a map_location. */
    private static final String LOCATION = "cpu";

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    /** Memo slots of globals already written, so each is spelled out once as torch does. */
    private final Map<String, Integer> memoizedGlobals = new HashMap<>();

    private StateDictPickler() {}

    static byte[] pickle(List<PickledTensor> tensors) {
        StateDictPickler pickler = new StateDictPickler();
        pickler.writeStateDict(tensors);
        return pickler.out.toByteArray();
    }

    private void writeStateDict(List<PickledTensor> tensors) {
        out.write(PROTO);
        out.write(2);
        writeNewOrderedDict();
        out.write(MARK);
        for (PickledTensor tensor : tensors) {
            writeString(tensor.name());
            writeGlobal(REBUILD_TENSOR);
            out.write(MARK);
            writeStorageReference(tensor);
            writeInt(tensor.storageOffset());
            writeIntTuple(tensor.shape().length, d -> tensor.shape()[d]);
            writeIntTuple(tensor.strides().length, d -> tensor.strides()[d]);
            out.write(NEWFALSE); // requires_grad
            writeNewOrderedDict(); // backward hooks
            out.write(TUPLE);
            out.write(REDUCE);
        }
        out.write(SETITEMS);
        out.write(STOP);
    }

    private void writeStorageReference(PickledTensor tensor) {
        out.write(MARK);
        writeString("storage");
        writeGlobal("torch\n" + tensor.storageClass() + "\n");
        writeString(tensor.storageKey());
        writeString(LOCATION);
        writeInt(tensor.storageNumel());
        out.write(TUPLE);
        out.write(BINPERSID);
    }

    private void writeNewOrderedDict() {
        writeGlobal(ORDERED_DICT);
        out.write(EMPTY_TUPLE);
        out.write(REDUCE);
    }

    /** {@code moduleAndName} is "module\nname\n", GLOBAL's own spelling. */
    private void writeGlobal(String moduleAndName) {
        Integer slot = memoizedGlobals.get(moduleAndName);
        if (slot != null) {
            out.write(BINGET);
            out.write(slot);
            return;
        }
        slot = memoizedGlobals.size();
        // A handful of distinct globals: the one-byte memo slots always suffice.
        if (slot > 0xFF) throw new IllegalStateException("too many distinct globals");
        out.write(GLOBAL);
        out.writeBytes(moduleAndName.getBytes(StandardCharsets.US_ASCII));
        out.write(BINPUT);
        out.write(slot);
        memoizedGlobals.put(moduleAndName, slot);
    }

    private void writeString(String value) {
        byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
        out.write(BINUNICODE);
        writeLittleEndian(utf8.length, 4);
        out.writeBytes(utf8);
    }

    /** The shortest of BININT1, BININT2 and BININT that holds the value, as Python's pickler picks. */
    private void writeInt(long value) {
        if (value >= 0 && value <= 0xFF) {
            out.write(BININT1);
            out.write((int) value);
        } else if (value >= 0 && value <= 0xFFFF) {
            out.write(BININT2);
            writeLittleEndian(value, 2);
        } else if (value >= Integer.MIN_VALUE && value <= Integer.MAX_VALUE) {
            out.write(BININT);
            writeLittleEndian(value, 4);
        } else {
            throw new IllegalArgumentException("int " + value + " needs more than 32 bits");
        }
    }

    private void writeIntTuple(int size, IntToLongFunction element) {
        if (size == 0) {
            out.write(EMPTY_TUPLE);
            return;
        }
        if (size > 3) out.write(MARK);
        for (int d = 0; d < size; d++) writeInt(element.applyAsLong(d));
        out.write(size > 3 ? TUPLE : TUPLE1 + size - 1);
    }

    private void writeLittleEndian(long value, int bytes) {
        for (int i = 0; i < bytes; i++) out.write((int) (value >>> (8 * i)) & 0xFF);
    }
}

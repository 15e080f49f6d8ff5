package plaid.model.checkpoint;

import static plaid.model.checkpoint.PickleOpcodes.*;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A pickle virtual machine for state dicts. It knows only the opcodes that torch.save's
 * protocol-2 pickles of state dicts use, and resolves a global only through an allow-list
 * of Java stand-ins, so loading never runs code named by the file: any other global is
 * refused with {@link DisallowedPickleGlobalException}.
 *
 * <p>Python values become: str → {@link String}, int → {@link Long}, bool → {@link Boolean},
 * tuple → unmodifiable {@link List}, dict → {@link LinkedHashMap}; the allow-list decides
 * what a global is, and {@link Callable} globals are what REDUCE may call.
 */
final class RestrictedUnpickler {
    /** An allow-listed Python callable, invoked by REDUCE with its argument tuple. */
    @FunctionalInterface
    interface Callable {
        Object call(List<Object> args) throws PickleException;
    }

    /** Resolves BINPERSID references, which torch uses for tensor storages. */
    @FunctionalInterface
    interface PersistentLoader {
        Object load(Object persistentId) throws PickleException;
    }

    private final Path file;
    private final String pickleName;
    private final Map<String, Object> allowedGlobals;
    private final PersistentLoader persistentLoader;

    /**
     * @param file           the checkpoint, for error messages
     * @param pickleName     the pickle's name inside it, for error messages
     * @param allowedGlobals stand-ins keyed by {@code module.name}
     */
    RestrictedUnpickler(
            Path file, String pickleName, Map<String, Object> allowedGlobals, PersistentLoader persistentLoader) {
        this.file = file;
        this.pickleName = pickleName;
        this.allowedGlobals = allowedGlobals;
        this.persistentLoader = persistentLoader;
    }

    /** Runs the pickle to its STOP opcode and returns the value it leaves. */
    Object load(byte[] pickle) throws CheckpointFormatException {
        Run run = new Run(ByteBuffer.wrap(pickle).order(ByteOrder.LITTLE_ENDIAN));
        try {
            return run.execute();
        } catch (PickleException e) {
            throw new CheckpointFormatException(
                    file, pickleName + " at byte " + run.opcodeStart + ": " + e.getMessage());
        } catch (BufferUnderflowException e) {
            throw new CheckpointFormatException(
                    file, pickleName + " is truncated inside the opcode at byte " + run.opcodeStart);
        }
    }

    /** The machine state of one load. */
    private final class Run {
        private final ByteBuffer in;
        private final List<Object> stack = new ArrayList<>();
        /** Stack sizes at each open MARK. */
        private final List<Integer> marks = new ArrayList<>();

        private final Map<Integer, Object> memo = new HashMap<>();
        private int opcodeStart;

        Run(ByteBuffer in) {
            this.in = in;
        }

        Object execute() throws PickleException, CheckpointFormatException {
            while (in.hasRemaining()) {
                opcodeStart = in.position();
                int opcode = in.get() & 0xFF;
                switch (opcode) {
                    case PROTO -> in.get();
                    case STOP -> {
                        return pop();
                    }
                    case MARK -> marks.add(stack.size());
                    case GLOBAL -> push(resolveGlobal(readLine(), readLine()));
                    case STACK_GLOBAL -> {
                        String name = pop(String.class, "STACK_GLOBAL name");
                        push(resolveGlobal(pop(String.class, "STACK_GLOBAL module"), name));
                    }
                    case BINPUT -> memo.put(in.get() & 0xFF, peek());
                    case LONG_BINPUT -> memo.put(in.getInt(), peek());
                    case BINGET -> push(memoGet(in.get() & 0xFF));
                    case LONG_BINGET -> push(memoGet(in.getInt()));
                    case EMPTY_TUPLE -> push(List.of());
                    case TUPLE -> push(List.copyOf(popToMark()));
                    case TUPLE1, TUPLE2, TUPLE3 -> push(popTuple(opcode - TUPLE1 + 1));
                    case REDUCE -> {
                        @SuppressWarnings("unchecked")
                        List<Object> args = pop(List.class, "REDUCE arguments");
                        push(pop(Callable.class, "REDUCE callable").call(args));
                    }
                    case BUILD -> {
                        // torch sets the OrderedDict's _metadata attribute (module versions) here;
                        // a state dict of tensors does not need it, so the state is dropped.
                        pop();
                        if (!(peek() instanceof Map))
                            throw new PickleException("BUILD on " + describe(peek()) + ", expected an OrderedDict");
                    }
                    case BINUNICODE -> push(readUtf8(in.getInt()));
                    case BININT -> push((long) in.getInt());
                    case BININT1 -> push((long) (in.get() & 0xFF));
                    case BININT2 -> push((long) (in.getShort() & 0xFFFF));
                    case BINPERSID -> push(persistentLoader.load(pop()));
                    case NEWFALSE -> push(Boolean.FALSE);
                    case EMPTY_DICT -> push(new LinkedHashMap<>());
                    case SETITEM -> {
                        Object value = pop();
                        Object key = pop();
                        topDict().put(key, value);
                    }
                    case SETITEMS -> {
                        List<Object> items = popToMark();
                        if (items.size() % 2 != 0) throw new PickleException("SETITEMS with an odd number of items");
                        Map<Object, Object> dict = topDict();
                        for (int i = 0; i < items.size(); i += 2) dict.put(items.get(i), items.get(i + 1));
                    }
                    default -> throw new PickleException(String.format("unsupported pickle opcode 0x%02x", opcode));
                }
            }
            throw new PickleException("pickle ends without a STOP opcode");
        }

        private Object resolveGlobal(String module, String name) throws DisallowedPickleGlobalException {
            String qualified = module + "." + name;
            Object standIn = allowedGlobals.get(qualified);
            if (standIn == null) throw new DisallowedPickleGlobalException(file, qualified);
            return standIn;
        }

        private String readLine() throws PickleException {
            int start = in.position();
            while (in.get() != '\n') {
                if (in.position() - start > 256) throw new PickleException("GLOBAL name longer than 256 bytes");
            }
            return new String(in.array(), start, in.position() - start - 1, StandardCharsets.US_ASCII);
        }

        private String readUtf8(int length) throws PickleException {
            if (length < 0 || length > in.remaining()) {
                throw new PickleException(
                        "truncated: a string of " + Integer.toUnsignedString(length) + " bytes runs past the end");
            }
            String value = new String(in.array(), in.position(), length, StandardCharsets.UTF_8);
            in.position(in.position() + length);
            return value;
        }

        private Object memoGet(int key) throws PickleException {
            Object value = memo.get(key);
            if (value == null) throw new PickleException("memo entry " + key + " was never stored");
            return value;
        }

        private void push(Object value) {
            stack.add(value);
        }

        private int floor() {
            return marks.isEmpty() ? 0 : marks.getLast();
        }

        private Object peek() throws PickleException {
            if (stack.size() <= floor()) throw new PickleException("stack underflow");
            return stack.getLast();
        }

        private Object pop() throws PickleException {
            peek();
            return stack.removeLast();
        }

        private <T> T pop(Class<T> type, String role) throws PickleException {
            Object value = pop();
            if (!type.isInstance(value)) throw new PickleException(role + " is " + describe(value));
            return type.cast(value);
        }

        private List<Object> popTuple(int size) throws PickleException {
            Object[] items = new Object[size];
            for (int i = size - 1; i >= 0; i--) items[i] = pop();
            return List.of(items);
        }

        private List<Object> popToMark() throws PickleException {
            if (marks.isEmpty()) throw new PickleException("no MARK to pop to");
            List<Object> top = stack.subList(marks.removeLast(), stack.size());
            List<Object> items = new ArrayList<>(top);
            top.clear();
            return items;
        }

        @SuppressWarnings("unchecked")
        private Map<Object, Object> topDict() throws PickleException {
            if (!(peek() instanceof Map<?, ?> dict))
                throw new PickleException("setting an item on " + describe(peek()));
            return (Map<Object, Object>) dict;
        }
    }

    /** A short description of a pickle value for error messages. */
    static String describe(Object value) {
        return switch (value) {
            case String s -> "the string '" + s + "'";
            case Long l -> "the int " + l;
            case List<?> list -> "a tuple of " + list.size();
            case Map<?, ?> map -> "a dict of " + map.size();
            default -> "a " + value.getClass().getSimpleName();
        };
    }
}

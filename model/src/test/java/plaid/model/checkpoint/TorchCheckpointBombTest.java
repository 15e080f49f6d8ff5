package plaid.model.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.ThrowingConsumer;
import org.junit.jupiter.api.io.TempDir;
import plaid.model.checkpoint.StateDictPickler.PickledTensor;

/**
 * Decompression bombs: small .pt files whose entries inflate far beyond what their tensors
 * need are refused before (or within a few bytes of) inflating them, and the refusal costs
 * little memory.
 */
class TorchCheckpointBombTest {
    /** Zeros deflate about 1000:1, so this is some 64 KB on disk. */
    private static final long BOMB_BYTES = 64L << 20;
    /** What a refusal may allocate: far below any bomb here. */
    private static final long ALLOCATION_BOUND = 8L << 20;

    private static final PickledTensor FOUR_FLOATS =
            new PickledTensor("v", "FloatStorage", "0", 4, 0, new int[] {4}, new long[] {1});

    @TempDir
    Path temp;

    @Test
    void aPickleThatInflatesHugelyIsRefusedByItsDeclaredSize() throws IOException {
        Path file = bomb("pickle", "pickle/data.pkl", BOMB_BYTES, -1);
        assertThat(Files.size(file)).isLessThan(1 << 20);
        assertRefusedCheaply(
                file,
                "zip entry pickle/data.pkl declares " + BOMB_BYTES + " bytes, more than the "
                        + TorchCheckpoint.MAX_PICKLE_BYTES);
    }

    @Test
    void aPickleThatLiesAboutItsSizeIsRefusedOnceItInflatesPastTheCap() throws IOException {
        // Reading stops one byte past the cap, so this one costs the cap (16 MiB), not the 256 MiB it holds.
        Path file = bomb("liar", "liar/data.pkl", 4 * BOMB_BYTES, 100);
        assertRefusedCheaply(
                file,
                "zip entry liar/data.pkl inflates to more than the " + TorchCheckpoint.MAX_PICKLE_BYTES,
                3L * TorchCheckpoint.MAX_PICKLE_BYTES);
    }

    @Test
    void aStorageLargerThanItsTensorsNeedIsRefusedBeforeInflating() throws IOException {
        Path file = bomb("storage", "storage/data/0", BOMB_BYTES, -1);
        assertRefusedCheaply(
                file,
                "storage entry storage/data/0 holds " + BOMB_BYTES
                        + " bytes, but the pickle declares 4 elements of F32 (16 bytes)");
    }

    @Test
    void aStorageThatLiesAboutItsSizeIsReadNoFurtherThanItsTensorsNeed() throws IOException {
        Path file = bomb("quiet", "quiet/data/0", BOMB_BYTES, 16);
        assertRefusedCheaply(file, "zip entry quiet/data/0 inflates to more than the 16 bytes it may hold");
    }

    @Test
    void tensorsThatNeedMoreThanTheHeapAreRefusedBeforeAnyStorageIsRead() throws IOException {
        // 64 storages of 2^31 - 1 doubles: 2 TiB to read, in a file of a few KB.
        List<PickledTensor> views = new java.util.ArrayList<>();
        java.util.Map<String, byte[]> entries = new java.util.LinkedHashMap<>();
        for (int i = 0; i < 64; i++)
            views.add(new PickledTensor(
                    "v" + i,
                    "DoubleStorage",
                    Integer.toString(i),
                    Integer.MAX_VALUE,
                    0,
                    new int[] {Integer.MAX_VALUE},
                    new long[] {1}));
        entries.put("huge/data.pkl", StateDictPickler.pickle(views));
        for (int i = 0; i < 64; i++) entries.put("huge/data/" + i, new byte[16]);
        Path file = temp.resolve("huge.pt");
        CheckpointTestSupport.writeZip(file, entries);
        assertRefusedCheaply(file, "bytes of this process's heap");
    }

    /**
     * A checkpoint of one four-float tensor whose {@code bombEntry} holds {@code bytes} zeros,
     * its central directory claiming {@code declared} bytes (-1: the truth).
     */
    private Path bomb(String archive, String bombEntry, long bytes, long declared) throws IOException {
        Path file = temp.resolve(archive + ".pt");
        try (OutputStream out = Files.newOutputStream(file);
                ZipOutputStream zip = new ZipOutputStream(out)) {
            if (!bombEntry.endsWith("data.pkl")) {
                zip.putNextEntry(new ZipEntry(archive + "/data.pkl"));
                zip.write(StateDictPickler.pickle(List.of(FOUR_FLOATS)));
                zip.closeEntry();
            }
            zip.putNextEntry(new ZipEntry(bombEntry));
            byte[] zeros = new byte[1 << 20];
            for (long written = 0; written < bytes; written += zeros.length)
                zip.write(zeros, 0, (int) Math.min(zeros.length, bytes - written));
            zip.closeEntry();
        }
        if (declared >= 0) declareSize(file, bombEntry, declared);
        return file;
    }

    /** Rewrites the central directory's uncompressed size of {@code entry}, which ZipFile trusts. */
    private static void declareSize(Path file, String entry, long size) throws IOException {
        byte[] zip = Files.readAllBytes(file);
        byte[] name = entry.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buffer = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
        for (int at = 0; at + 46 < zip.length; at++) {
            if (buffer.getInt(at) != 0x02014b50 || (buffer.getShort(at + 28) & 0xFFFF) != name.length) continue;
            if (!Arrays.equals(zip, at + 46, at + 46 + name.length, name, 0, name.length)) continue;
            buffer.putInt(at + 24, (int) size);
            Files.write(file, zip);
            return;
        }
        throw new AssertionError("no central directory header for " + entry);
    }

    private static void assertRefusedCheaply(Path file, String message) {
        assertRefusedCheaply(file, message, ALLOCATION_BOUND);
    }

    private static void assertRefusedCheaply(Path file, String message, long bound) {
        long allocated = allocatedBy(
                f -> assertThatThrownBy(() -> TorchCheckpoint.read(f))
                        .isInstanceOf(CheckpointFormatException.class)
                        .hasMessageContaining(message),
                file);
        assertThat(allocated).as("bytes allocated by the refused read").isLessThan(bound);
    }

    private static long allocatedBy(ThrowingConsumer<Path> read, Path file) {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        try {
            read.accept(file);
        } catch (Throwable e) {
            throw new AssertionError(e);
        }
        return threads.getCurrentThreadAllocatedBytes() - before;
    }
}

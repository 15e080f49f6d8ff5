package plaid.text;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarFile;

/**
 * The OpenWebText2 archives of a source: a folder of {@code *.jsonl.zst} files, or the
 * release's {@code .tar} of them, read in place (nothing is extracted). Opening checks what
 * can be checked before hours of work: that there are archives, that each starts with the
 * zstd magic number, and that no tar entry names a path outside the tar's folder
 * ({@code ../}, absolute), which a tool extracting it would write elsewhere. Refusals are
 * {@link IllegalArgumentException}s whose message starts with the field named at opening.
 */
public final class Owt2Archives implements AutoCloseable {
    public static final String SUFFIX = ".jsonl.zst";
    private static final byte[] ZSTD_MAGIC = {0x28, (byte) 0xB5, 0x2F, (byte) 0xFD};

    /** How an archive's compressed bytes are read again. */
    @FunctionalInterface
    public interface Opener {
        InputStream open() throws IOException;
    }

    /** One archive: its name (file name, or tar entry name), compressed size, and bytes. */
    public record Archive(String name, long size, Opener opener) {}

    private final List<Archive> archives;
    private final TarFile tar;

    private Owt2Archives(List<Archive> archives, TarFile tar) {
        this.archives = archives;
        this.tar = tar;
    }

    /** The archives of {@code source} in the original's order (reverse name order); {@code field} names the source in refusals. */
    public static Owt2Archives open(Path source, String field) throws IOException {
        Owt2Archives opened;
        if (Files.isDirectory(source)) opened = new Owt2Archives(folder(source), null);
        else if (Files.isRegularFile(source) && source.getFileName().toString().endsWith(".tar")) {
            TarFile tar = new TarFile(source);
            try {
                opened = new Owt2Archives(entries(tar, field), tar);
            } catch (IOException | RuntimeException e) {
                tar.close();
                throw e;
            }
        } else throw new IllegalArgumentException(field + " is neither a folder nor a .tar file");
        try {
            if (opened.archives.isEmpty())
                throw new IllegalArgumentException(field + " holds no *" + SUFFIX + " archives");
            for (Archive archive : opened.archives) requireZstd(archive, field);
            return opened;
        } catch (IOException | RuntimeException e) {
            opened.close();
            throw e;
        }
    }

    public List<Archive> archives() {
        return archives;
    }

    public long totalBytes() {
        return archives.stream().mapToLong(Archive::size).sum();
    }

    private static List<Archive> folder(Path source) throws IOException {
        try (Stream<Path> files = Files.list(source)) {
            List<Archive> archives = new ArrayList<>();
            for (Path file : files.filter(p -> p.getFileName().toString().endsWith(SUFFIX))
                    .filter(Files::isRegularFile)
                    .toList())
                archives.add(
                        new Archive(file.getFileName().toString(), Files.size(file), () -> Files.newInputStream(file)));
            return sorted(archives);
        }
    }

    private static List<Archive> entries(TarFile tar, String field) throws IOException {
        List<Archive> archives = new ArrayList<>();
        for (TarArchiveEntry entry : tar.getEntries()) {
            String name = entry.getName();
            boolean escapes = name.startsWith("/")
                    || name.startsWith("\\")
                    || (name.length() > 1 && name.charAt(1) == ':')
                    || Arrays.asList(name.split("[/\\\\]")).contains("..");
            if (escapes)
                throw new IllegalArgumentException(
                        field + " holds the tar entry '" + name + "', a path outside the archive's folder; refused");
            if (entry.isFile() && name.endsWith(SUFFIX))
                archives.add(new Archive(name, entry.getSize(), () -> tar.getInputStream(entry)));
        }
        return sorted(archives);
    }

    private static List<Archive> sorted(List<Archive> archives) {
        return archives.stream()
                .sorted(Comparator.comparing(Archive::name).reversed())
                .toList();
    }

    private static void requireZstd(Archive archive, String field) throws IOException {
        byte[] head;
        try (InputStream in = new BufferedInputStream(archive.opener().open())) {
            head = in.readNBytes(ZSTD_MAGIC.length);
        }
        if (!Arrays.equals(head, ZSTD_MAGIC))
            throw new IllegalArgumentException(field + " holds '" + archive.name()
                    + "', which is not zstd-compressed (it does not start with the zstd magic number)");
    }

    @Override
    public void close() throws IOException {
        if (tar != null) tar.close();
    }
}

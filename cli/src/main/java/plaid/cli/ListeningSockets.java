package plaid.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/** Which process listens on a TCP port, read from Linux's /proc (tcp and tcp6 tables, the process' open sockets). */
final class ListeningSockets {
    private static final String LISTEN = "0A";

    private ListeningSockets() {}

    /**
     * Whether {@code process} (or a process it started) holds a socket listening on {@code port};
     * empty where /proc cannot tell (not Linux, or not readable).
     */
    static Optional<Boolean> owner(int port, ProcessHandle process) {
        try {
            Set<String> inodes = listeningInodes(port);
            if (inodes.isEmpty()) return Optional.of(false);
            List<ProcessHandle> candidates =
                    Stream.concat(Stream.of(process), process.descendants()).toList();
            for (ProcessHandle p : candidates) {
                if (holdsAny(p.pid(), inodes)) return Optional.of(true);
            }
            return Optional.of(false);
        } catch (IOException | SecurityException unreadable) {
            return Optional.empty();
        }
    }

    /** The socket inodes of listening sockets on {@code port}, any local address. */
    private static Set<String> listeningInodes(int port) throws IOException {
        Set<String> inodes = new HashSet<>();
        String hexPort = ":" + String.format(Locale.ROOT, "%04X", port);
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            Path file = Path.of(table);
            if (!Files.isReadable(file)) continue;
            for (String line : Files.readAllLines(file)) {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
                String[] f = line.trim().split("\\s+");
                if (f.length > 9 && f[1].endsWith(hexPort) && f[3].equals(LISTEN)) inodes.add(f[9]);
            }
        }
        if (inodes.isEmpty() && !Files.isReadable(Path.of("/proc/net/tcp"))) throw new IOException("no /proc/net/tcp");
        return inodes;
    }

    private static boolean holdsAny(long pid, Set<String> inodes) throws IOException {
        Path fds = Path.of("/proc", Long.toString(pid), "fd");
        if (!Files.isDirectory(fds)) return false;
        try (Stream<Path> open = Files.list(fds)) {
            for (Path fd : open.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[") && inodes.contains(target.substring(8, target.length() - 1)))
                        return true;
                } catch (IOException closedMeanwhile) {
                    // the descriptor went away while listing
                }
            }
        }
        return false;
    }
}

package plaid.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What {@code plaid demo} refuses before it starts anything: a taken port, a work dir in use. */
class LocalStackTest {
    @TempDir
    Path work;

    @Test
    void aPortSomethingElseListensOnIsRefusedNamingIt() throws Exception {
        try (ServerSocket someoneElses = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            int port = someoneElses.getLocalPort();
            // the module's jar does not exist: the port check must come first and launch nothing
            assertThatThrownBy(() -> LocalStack.start(
                            work, work, List.of(new LocalStack.Service("trainer-svc", port, List.of()))))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("127.0.0.1:" + port)
                    .hasMessageContaining("trainer-svc")
                    .hasMessageContaining("did not start");
        }
        // the refused start left the work dir free
        assertThat(Files.exists(work.resolve(LocalStack.LOCK_FILE))).isTrue();
        assertThatThrownBy(() -> LocalStack.start(
                        work, work, List.of(new LocalStack.Service("trainer-svc", freePort(), List.of()))))
                .hasMessageContaining("is missing");
    }

    @Test
    void aWorkDirAnotherCommandHoldsIsRefused() throws Exception {
        try (var channel = java.nio.channels.FileChannel.open(
                        work.resolve(LocalStack.LOCK_FILE),
                        java.nio.file.StandardOpenOption.CREATE,
                        java.nio.file.StandardOpenOption.WRITE);
                var held = channel.lock()) {
            assertThatThrownBy(() -> LocalStack.start(
                            work, work, List.of(new LocalStack.Service("data-svc", freePort(), List.of()))))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("another plaid command")
                    .hasMessageContaining(work.toString());
        }
    }

    @Test
    void procTellsWhichProcessListens() throws Exception {
        try (ServerSocket mine = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            var owner = ListeningSockets.owner(mine.getLocalPort(), ProcessHandle.current());
            org.junit.jupiter.api.Assumptions.assumeTrue(owner.isPresent(), "no /proc here");
            assertThat(owner).contains(true);
            Process other = new ProcessBuilder("sleep", "30").start();
            try {
                assertThat(ListeningSockets.owner(mine.getLocalPort(), other.toHandle()))
                        .contains(false);
            } finally {
                other.destroyForcibly();
            }
        }
        assertThat(ListeningSockets.owner(freePort(), ProcessHandle.current()))
                .isNotEqualTo(java.util.Optional.of(true));
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}

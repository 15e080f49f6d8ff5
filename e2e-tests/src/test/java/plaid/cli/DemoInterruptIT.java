package plaid.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code plaid demo} interrupted with Ctrl-C (SIGINT) mid-training: its three services stop with it. */
class DemoInterruptIT {
    @TempDir
    Path work;

    @Test
    void ctrlCStopsTheServicesTheDemoStarted() throws Exception {
        int basePort = threeFreePorts();
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow",
                "-Dplaid.home=" + System.getProperty("plaid.home"),
                "-cp",
                System.getProperty("java.class.path"),
                "plaid.cli.PlaidCommand",
                "demo",
                "--steps=100000",
                "--base-port=" + basePort,
                "--work-dir=" + work));
        Process demo = new ProcessBuilder(command).redirectErrorStream(true).start();
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader out =
                    new BufferedReader(new InputStreamReader(demo.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = out.readLine()) != null; ) lines.add(line);
            } catch (IOException ignored) {
                // the demo ended
            }
        });
        List<String> seen = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(4);
        while (seen.stream().noneMatch(l -> l.startsWith("training job "))) {
            String line = lines.poll(1, TimeUnit.SECONDS);
            if (line != null) seen.add(line);
            assertThat(demo.isAlive())
                    .as("the demo ended before training: %s", seen)
                    .isTrue();
            assertThat(System.nanoTime())
                    .as("no training job within 4 minutes: %s", seen)
                    .isLessThan(deadline);
        }
        List<ProcessHandle> services = demo.descendants()
                .filter(p -> p.info().command().orElse("").endsWith("java"))
                .toList();
        assertThat(services).as("the three service JVMs").hasSize(3);

        new ProcessBuilder("kill", "-INT", Long.toString(demo.pid())).start().waitFor();
        assertThat(demo.waitFor(2, TimeUnit.MINUTES))
                .as("the demo exits on Ctrl-C")
                .isTrue();
        for (ProcessHandle service : services) {
            service.onExit().get(10, TimeUnit.SECONDS);
            assertThat(service.isAlive()).isFalse();
        }
        for (int port = basePort; port < basePort + 3; port++)
            assertThat(free(port)).as("port %d", port).isTrue();
    }

    static int threeFreePorts() throws IOException {
        for (int attempt = 0; attempt < 50; attempt++) {
            int base;
            try (ServerSocket s = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
                base = s.getLocalPort();
            }
            if (base + 2 < 65536 && free(base) && free(base + 1) && free(base + 2)) return base;
        }
        throw new IOException("no three consecutive free ports");
    }

    private static boolean free(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true); // TIME_WAIT left by the stopped services is not a listener
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException taken) {
            return false;
        }
    }
}

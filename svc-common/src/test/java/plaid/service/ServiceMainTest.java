package plaid.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class ServiceMainTest {
    @Test
    void featureReleasesAreReadOldAndNewStyle() {
        assertThat(ServiceMain.feature("1.8")).isEqualTo(8);
        assertThat(ServiceMain.feature("17")).isEqualTo(17);
        assertThat(ServiceMain.feature("25")).isEqualTo(25);
        assertThat(ServiceMain.feature("weird")).isZero();
    }

    /** Run on an installed older JDK (Debian's default 17 under /usr/lib/jvm), the entry point says what is needed. */
    @Test
    void anOlderJavaIsToldThatJava25IsNeeded() throws Exception {
        Optional<Path> oldJava = olderJava();
        Assumptions.assumeTrue(oldJava.isPresent(), "no JDK older than 25 under /usr/lib/jvm");
        Path classes = Path.of(ServiceMain.class
                .getProtectionDomain()
                .getCodeSource()
                .getLocation()
                .toURI());
        Process p = new ProcessBuilder(oldJava.get().toString(), "-cp", classes.toString(), ServiceMain.class.getName())
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(1);
        assertThat(out).contains("needs Java 25 or newer").contains("started with Java ");
    }

    private static Optional<Path> olderJava() throws IOException {
        Path jvms = Path.of("/usr/lib/jvm");
        if (!Files.isDirectory(jvms)) return Optional.empty();
        try (Stream<Path> homes = Files.list(jvms)) {
            for (Path home : homes.sorted().toList()) {
                Path release = home.resolve("release"), java = home.resolve("bin/java");
                if (!Files.isRegularFile(release) || !Files.isExecutable(java)) continue;
                for (String line : List.copyOf(Files.readAllLines(release))) {
                    if (line.startsWith("JAVA_VERSION=")) {
                        String version =
                                line.substring("JAVA_VERSION=".length()).replace("\"", "");
                        if (ServiceMain.feature(version) >= 8
                                && ServiceMain.feature(version) < ServiceMain.REQUIRED_JAVA) return Optional.of(java);
                    }
                }
            }
        }
        return Optional.empty();
    }
}

package plaid.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** The test profile with TLS on the shared HTTP/gRPC server, from a self-signed certificate that the JDK's keytool makes. */
public class TlsDataServiceTestProfile extends DataServiceTestProfile {
    static final String PASSWORD = "test-password";
    static final Path KEY_STORE = createKeyStore();

    @Override
    public Map<String, String> getConfigOverrides() {
        Map<String, String> overrides = new HashMap<>(super.getConfigOverrides());
        overrides.put("quarkus.http.ssl.certificate.key-store-file", KEY_STORE.toString());
        overrides.put("quarkus.http.ssl.certificate.key-store-password", PASSWORD);
        overrides.put("quarkus.http.test-ssl-port", "0");
        overrides.put("quarkus.http.insecure-requests", "disabled");
        return overrides;
    }

    private static Path createKeyStore() {
        try {
            Path store = Files.createTempDirectory("plaid-data-svc-tls").resolve("server.p12");
            Process keytool = new ProcessBuilder(
                            Path.of(System.getProperty("java.home"), "bin", "keytool")
                                    .toString(),
                            "-genkeypair",
                            "-alias",
                            "server",
                            "-keyalg",
                            "EC",
                            "-groupname",
                            "secp256r1",
                            "-validity",
                            "2",
                            "-dname",
                            "CN=localhost",
                            "-ext",
                            "SAN=dns:localhost,ip:127.0.0.1",
                            "-storetype",
                            "PKCS12",
                            "-keystore",
                            store.toString(),
                            "-storepass",
                            PASSWORD,
                            "-keypass",
                            PASSWORD)
                    .redirectErrorStream(true)
                    .start();
            String output = new String(keytool.getInputStream().readAllBytes());
            if (keytool.waitFor() != 0) throw new IllegalStateException("keytool failed: " + output);
            return store;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}

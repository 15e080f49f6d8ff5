package plaid.trainer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Map;

/**
 * The service on PostgreSQL (127.0.0.1:5432, database test, trust auth), in a schema of its
 * own that Flyway empties at start. The database kind is a build-time setting, so this
 * profile also shows that the same code and migrations build for PostgreSQL.
 */
public class PostgresTestProfile extends TrainerServiceTestProfile {
    static final String HOST = "127.0.0.1";
    static final int PORT = 5432;
    private static final String SCHEMA = "plaid_trainer_test";

    @Override
    public Map<String, String> getConfigOverrides() {
        Map<String, String> overrides = super.getConfigOverrides();
        overrides.put("quarkus.datasource.db-kind", "postgresql");
        overrides.put(
                "quarkus.datasource.jdbc.url",
                "jdbc:postgresql://" + HOST + ":" + PORT + "/test?currentSchema=" + SCHEMA);
        overrides.put("quarkus.datasource.username", System.getProperty("plaid.postgres.user", "postgres"));
        overrides.put("quarkus.flyway.schemas", SCHEMA);
        overrides.put("quarkus.flyway.clean-disabled", "false");
        overrides.put("quarkus.flyway.clean-at-start", "true");
        return overrides;
    }

    /** Whether a server answers at {@link #HOST}:{@link #PORT}; the PostgreSQL tests are skipped when none does. */
    public static boolean reachable() {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(HOST, PORT), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}

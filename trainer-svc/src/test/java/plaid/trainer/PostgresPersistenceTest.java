package plaid.trainer;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.condition.EnabledIf;

/** The job lifecycle and its records on PostgreSQL. */
@QuarkusTest
@TestProfile(PostgresTestProfile.class)
@EnabledIf(
        value = "plaid.trainer.PostgresTestProfile#reachable",
        disabledReason = "no PostgreSQL server answers on 127.0.0.1:5432")
class PostgresPersistenceTest extends JobPersistenceTests {}

package plaid.service;

import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.annotations.QuarkusMain;

/**
 * Every service's entry point ({@code java -jar quarkus-run.jar}): on a Java older than the
 * services need, it says so and exits 1 before Quarkus starts. Without it an old Java dies in
 * Quarkus' static init on the first class compiled for Java 25, and that error goes to a log
 * handler that is never flushed: exit 1 with no output. This class alone is compiled for Java 8
 * (svc-common's pom), so that any Java from 8 on can load it and print the message.
 */
@QuarkusMain
public final class ServiceMain {
    static final int REQUIRED_JAVA = 25;

    private ServiceMain() {}

    public static void main(String... args) {
        String version = System.getProperty("java.specification.version");
        if (feature(version) < REQUIRED_JAVA) {
            System.err.println(
                    "This service needs Java " + REQUIRED_JAVA + " or newer; it was started with Java " + version
                            + " (" + System.getProperty("java.home") + "). Run it with a JDK " + REQUIRED_JAVA
                            + " (set JAVA_HOME, or see scripts/select-jdk.sh).");
            System.exit(1);
        }
        Quarkus.run(args);
    }

    /** The feature release of a java.specification.version: "1.8" is 8, "17" is 17. */
    static int feature(String specificationVersion) {
        String v = specificationVersion.startsWith("1.") ? specificationVersion.substring(2) : specificationVersion;
        int dot = v.indexOf('.');
        try {
            return Integer.parseInt(dot < 0 ? v : v.substring(0, dot));
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}

package plaid.trainer.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * deploy/k8s's manifests: each parses, has the fields its kind requires and valid names, and they
 * agree with each other and with the code: the coordinator's port is the service's, the workers'
 * count is the coordinator's {@code trainer-svc.cluster.workers}, the headless Service is the
 * pods' subdomain, the worker's environment configures {@link Worker} as meant, the exit codes
 * the Job treats as final are the worker's.
 */
class KubernetesManifestsTest {
    static final Path DIR = Path.of("..", "deploy", "k8s");
    /** What the README substitutes for {{JOB}}: a job id as SubmitJob gives it. */
    static final String JOB_ID = "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b";

    private static final Pattern DNS_LABEL = Pattern.compile("[a-z]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern DNS_SUBDOMAIN = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");
    private static final Set<String> KINDS =
            Set.of("v1/PersistentVolumeClaim", "v1/Service", "apps/v1/Deployment", "batch/v1/Job");

    static Map<String, Map<String, Object>> coordinator, workers;

    @BeforeAll
    static void load() throws IOException {
        coordinator = documents(DIR.resolve("coordinator.yaml"));
        workers = documents(DIR.resolve("workers.yaml"));
    }

    /** The file's documents by kind/name, {{JOB}} replaced; each with apiVersion, kind and a valid name. */
    static Map<String, Map<String, Object>> documents(Path file) throws IOException {
        Map<String, Map<String, Object>> byName = new HashMap<>();
        Yaml yaml = new Yaml(new SafeConstructor(new LoaderOptions()));
        String text = Files.readString(file).replace("{{JOB}}", JOB_ID);
        assertThat(text).as(file + ": a placeholder the README's sed leaves").doesNotContain("{{");
        for (Object document : yaml.loadAll(text)) {
            Map<String, Object> object = map(document, file + ": a document");
            String kind = string(object, "kind"), name = string(object, "metadata.name");
            assertThat(KINDS).as(file + ": apiVersion/kind").contains(string(object, "apiVersion") + "/" + kind);
            Pattern names = kind.equals("Service") ? DNS_LABEL : DNS_SUBDOMAIN;
            assertThat(name).as(file + ": " + kind + " name").matches(names).hasSizeLessThanOrEqualTo(63);
            assertThat(byName.put(kind + "/" + name, object))
                    .as("two " + kind + "s named " + name)
                    .isNull();
        }
        return byName;
    }

    @Test
    void theCoordinatorServesTheServicePortWithTheClusterConfigured() throws IOException {
        Map<String, Object> deployment = coordinator.get("Deployment/trainer-svc");
        Map<String, Object> service = coordinator.get("Service/trainer-svc");
        assertThat(deployment).isNotNull();
        assertThat(service).isNotNull();
        requireSelects(map(deployment, "spec.selector.matchLabels"), map(deployment, "spec.template.metadata.labels"));
        requireSelects(map(service, "spec.selector"), map(deployment, "spec.template.metadata.labels"));

        Map<String, Object> container = only(list(deployment, "spec.template.spec.containers"));
        Map<String, Object> port = only(list(service, "spec.ports"));
        Map<String, Object> containerPort = list(container, "ports").stream()
                .filter(p -> port.get("targetPort").equals(p.get("name")))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no container port named " + port.get("targetPort")));
        String servicePort = serviceProperties().getProperty("quarkus.http.port");
        assertThat(containerPort.get("containerPort").toString()).isEqualTo(servicePort);
        assertThat(port.get("port").toString()).isEqualTo(servicePort);
        assertThat(string(container, "readinessProbe.grpc.port")).isEqualTo(servicePort);

        // Every TRAINER_SVC_CLUSTER_* variable names a setting of ClusterConfig.
        Set<String> settings = Arrays.stream(ClusterConfig.class.getMethods())
                .map(Method::getName)
                .collect(Collectors.toSet());
        Map<String, String> env = env(container);
        assertThat(env).containsKey("TRAINER_SVC_CLUSTER_WORKERS");
        env.keySet().stream()
                .filter(name -> name.startsWith("TRAINER_SVC_CLUSTER_"))
                .forEach(name -> assertThat(settings).as(name).contains(camelCase(name.substring(20))));
        requireVolumes(deployment, container, env.get("TRAINER_SVC_ROOT"));
        Map<String, Object> claim = coordinator.get("PersistentVolumeClaim/plaid-runs");
        assertThat(stringList(claim, "spec.accessModes"))
                .as("shared by the coordinator and every worker")
                .contains("ReadWriteMany");
    }

    @Test
    void theWorkersAreAnIndexedJobOfTheCoordinatorsCountBehindAHeadlessService() {
        Map<String, Object> job = workers.get("Job/plaid-workers-" + JOB_ID);
        Map<String, Object> service = workers.get("Service/plaid-workers-" + JOB_ID);
        assertThat(job).isNotNull();
        assertThat(service).isNotNull();
        assertThat(string(job, "spec.completionMode")).isEqualTo("Indexed");
        String count = env(only(list(coordinator.get("Deployment/trainer-svc"), "spec.template.spec.containers")))
                .get("TRAINER_SVC_CLUSTER_WORKERS");
        assertThat(string(job, "spec.completions")).isEqualTo(count);
        assertThat(string(job, "spec.parallelism")).isEqualTo(count);

        assertThat(string(service, "spec.clusterIP")).isEqualTo("None");
        assertThat(string(job, "spec.template.spec.subdomain")).isEqualTo(string(service, "metadata.name"));
        requireSelects(map(service, "spec.selector"), map(job, "spec.template.metadata.labels"));
        // podFailurePolicy is refused unless pods are not restarted in place.
        assertThat(string(job, "spec.template.spec.restartPolicy")).isEqualTo("Never");
    }

    @Test
    void theWorkerContainerConfiguresTheWorkerAsMeant() throws Exception {
        Map<String, Object> job = workers.get("Job/plaid-workers-" + JOB_ID);
        Map<String, Object> container = only(list(job, "spec.template.spec.containers"));
        String command = String.join(" ", stringList(container, "command"));
        assertThat(command).endsWith(" " + Worker.class.getName());

        Map<String, String> env = new HashMap<>(env(container));
        env.put("JOB_COMPLETION_INDEX", "1"); // the Job controller's
        Worker.Options options = Worker.parse(new String[0], env);
        Map<String, Object> coordinatorService = coordinator.get("Service/trainer-svc");
        assertThat(options.coordinator())
                .isEqualTo(string(coordinatorService, "metadata.name") + ":"
                        + string(only(list(coordinatorService, "spec.ports")), "port"));
        assertThat(options.jobId()).isEqualTo(JOB_ID);
        assertThat(options.nodeIndex()).isEqualTo(1);
        assertThat(string(container, "resources.limits.nvidia\\.com/gpu"))
                .as("one rank per GPU")
                .isEqualTo(Integer.toString(options.devices()));
        requireVolumes(job, container, options.root().toString());
        // The run root is the coordinator's volume, mounted where the coordinator mounts it.
        Map<String, Object> deployment = coordinator.get("Deployment/trainer-svc");
        assertThat(options.root().toString())
                .isEqualTo(env(only(list(deployment, "spec.template.spec.containers")))
                        .get("TRAINER_SVC_ROOT"));

        // The exit codes that end the Job are the worker's "job ended" and "bad flags".
        List<Map<String, Object>> rules = list(job, "spec.podFailurePolicy.rules");
        Map<String, Object> failJob = rules.stream()
                .filter(r -> "FailJob".equals(r.get("action")))
                .findFirst()
                .orElseThrow();
        assertThat(string(failJob, "onExitCodes.containerName")).isEqualTo(string(container, "name"));
        assertThat(stringList(failJob, "onExitCodes.values"))
                .containsExactlyInAnyOrder(Integer.toString(Worker.USAGE), Integer.toString(Worker.JOB_ENDED));
    }

    /** Each mount names a volume of the pod; the runs volume is the shared claim, mounted at {@code root}. */
    private static void requireVolumes(Map<String, Object> workload, Map<String, Object> container, String root) {
        Map<String, Map<String, Object>> volumes = new HashMap<>();
        for (Map<String, Object> volume : list(workload, "spec.template.spec.volumes"))
            volumes.put(string(volume, "name"), volume);
        String runsMount = null;
        for (Map<String, Object> mount : list(container, "volumeMounts")) {
            Map<String, Object> volume = volumes.get(string(mount, "name"));
            assertThat(volume).as("the volume of mount " + mount).isNotNull();
            if (volume.containsKey("persistentVolumeClaim")) {
                assertThat(coordinator)
                        .containsKey("PersistentVolumeClaim/" + string(volume, "persistentVolumeClaim.claimName"));
                runsMount = string(mount, "mountPath");
            }
        }
        assertThat(runsMount).as("the run root's mount").isEqualTo(root);
    }

    private static void requireSelects(Map<String, Object> selector, Map<String, Object> labels) {
        assertThat(selector).isNotEmpty();
        assertThat(labels).containsAllEntriesOf(selector);
    }

    private static Properties serviceProperties() throws IOException {
        Properties properties = new Properties();
        try (InputStream in = Files.newInputStream(Path.of("src/main/resources/application.properties"))) {
            properties.load(in);
        }
        return properties;
    }

    private static Map<String, String> env(Map<String, Object> container) {
        Map<String, String> env = new HashMap<>();
        for (Map<String, Object> variable : list(container, "env"))
            if (variable.containsKey("value")) env.put(string(variable, "name"), string(variable, "value"));
        return env;
    }

    private static String camelCase(String upperSnake) {
        String[] words = upperSnake.toLowerCase().split("_");
        StringBuilder name = new StringBuilder(words[0]);
        for (int i = 1; i < words.length; i++)
            name.append(Character.toUpperCase(words[i].charAt(0))).append(words[i].substring(1));
        return name.toString();
    }

    /** The value at a dotted path ({@code \\.} for a dot inside a key); fails naming the path when absent. */
    private static Object at(Map<String, Object> object, String path) {
        Object value = object;
        for (String key : path.split("(?<!\\\\)\\.")) {
            value = map(value, path).get(key.replace("\\.", "."));
            assertThat(value).as(path).isNotNull();
        }
        return value;
    }

    private static String string(Map<String, Object> object, String path) {
        return at(object, path).toString();
    }

    private static List<String> stringList(Map<String, Object> object, String path) {
        return ((List<?>) at(object, path)).stream().map(Object::toString).toList();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object value, String what) {
        assertThat(value).as(what + " is a mapping").isInstanceOf(Map.class);
        return (Map<String, Object>) value;
    }

    private static Map<String, Object> map(Map<String, Object> object, String path) {
        return map(at(object, path), path);
    }

    private static List<Map<String, Object>> list(Map<String, Object> object, String path) {
        Object value = at(object, path);
        assertThat(value).as(path + " is a list").isInstanceOf(List.class);
        List<Map<String, Object>> items = new ArrayList<>();
        for (Object item : (List<?>) value) items.add(map(item, path + "[]"));
        return items;
    }

    private static <T> T only(List<T> items) {
        assertThat(items).hasSize(1);
        return items.getFirst();
    }
}

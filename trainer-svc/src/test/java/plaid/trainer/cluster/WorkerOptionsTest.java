package plaid.trainer.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The worker's flags and their environment fallbacks (what an indexed Job's pod sets). */
class WorkerOptionsTest {
    @Test
    void flagsWinOverTheEnvironmentWhichFillsTheRest() throws Exception {
        Worker.Options options = Worker.parse(
                new String[] {"--job", "j1", "--devices", "4", "--connect-timeout", "90s"},
                Map.of(
                        "PLAID_COORDINATOR", "trainer-svc:9102",
                        "PLAID_JOB_ID", "other",
                        "PLAID_RUNNER", "counting",
                        "JOB_COMPLETION_INDEX", "3",
                        "HOSTNAME", "plaid-worker-3"));
        assertThat(options)
                .isEqualTo(new Worker.Options(
                        "trainer-svc:9102",
                        "j1",
                        "counting",
                        4,
                        3,
                        Path.of("./runs/trainer"),
                        Duration.ofSeconds(90),
                        "plaid-worker-3"));
    }

    @Test
    void badOrMissingValuesNameTheFlag() {
        Map<String, String> env = Map.of("PLAID_COORDINATOR", "c:1", "PLAID_RUNNER", "counting");
        assertThatThrownBy(() -> Worker.parse(new String[] {}, env)).hasMessage("--job (or PLAID_JOB_ID) must be set");
        assertThatThrownBy(() -> Worker.parse(new String[] {"--job", "j", "--devices", "0"}, env))
                .hasMessage("--devices must be at least 1, got 0");
        assertThatThrownBy(() -> Worker.parse(new String[] {"--job", "j", "--node-index", "x"}, env))
                .hasMessage("--node-index must be an integer, got 'x'");
        assertThatThrownBy(() -> Worker.parse(new String[] {"--job", "j", "--gpus", "2"}, env))
                .hasMessage("unknown flag --gpus");
        assertThatThrownBy(() -> Worker.parse(new String[] {"--job", "j", "--connect-timeout", "soon"}, env))
                .hasMessage("--connect-timeout must be a duration such as 90s or 5m");
    }

    @Test
    void runnersAreFoundByNameAndAnUnknownOneListsTheInstalled() throws Exception {
        assertThat(Worker.runner("counting")).isInstanceOf(CountingRankRunner.class);
        assertThatThrownBy(() -> Worker.runner("nccl"))
                .hasMessageStartingWith("--runner 'nccl' is not installed; installed: [")
                .hasMessageContaining("counting");
    }
}

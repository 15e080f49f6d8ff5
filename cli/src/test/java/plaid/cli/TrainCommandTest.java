package plaid.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;
import plaid.v1.Job;
import plaid.v1.JobState;
import plaid.v1.TrainingSpec;
import plaid.v1.ValidationResult;

class TrainCommandTest {

    @Test
    void acceptsTheOriginalsFlagsInBothSpellings() {
        TrainingSpec spec = TrainCommand.spec("demo", 3, List.of("--grad_accum_steps=2", "--dim", "512", "--lr=1e-3", "--selfcond=False",
                "--beta2=0.95", "--hook_freq=100"));
        assertThat(spec.getCorpus()).isEqualTo("demo");
        assertThat(spec.getSeed()).isEqualTo(3);
        assertThat(spec.getOptimization().getGradAccumSteps()).isEqualTo(2);
        assertThat(spec.getShape().getDim()).isEqualTo(512);
        assertThat(spec.getOptimization().getLr()).isEqualTo(1e-3);
        assertThat(spec.getShape().hasSelfConditioning()).isTrue();
        assertThat(spec.getShape().getSelfConditioning()).isFalse();
        assertThat(spec.getOptimization().getBeta2()).isEqualTo(0.95);
        assertThat(spec.getReporting().getHookFreq()).isEqualTo(100);
        assertThat(spec.getShape().hasNBlocks()).as("unset options stay unset: the service applies train.py's defaults").isFalse();
    }

    @Test
    void namesTheBadOption() {
        assertThatThrownBy(() -> TrainCommand.spec("demo", 0, List.of("--no_such_option=1"))).hasMessage("unknown option --no_such_option");
        assertThatThrownBy(() -> TrainCommand.spec("demo", 0, List.of("--dim=wide"))).hasMessageContaining("--dim").hasMessageContaining("'wide'");
        assertThatThrownBy(() -> TrainCommand.spec("demo", 0, List.of("--lr"))).hasMessage("option --lr needs a value");
    }

    @Test
    void exitCodesTellFailureAndAMissedThresholdApart() {
        Job ok = Job.newBuilder().setId("j").setState(JobState.JOB_STATE_SUCCEEDED).setLatestValidation(ValidationResult.newBuilder().setNll(4.0)).build();
        assertThat(TrainCommand.verdict(ok, null)).isZero();
        assertThat(TrainCommand.verdict(ok, 4.5)).isZero();
        assertThat(TrainCommand.verdict(ok, 3.5)).isEqualTo(TrainCommand.EXIT_NLL_ABOVE_THRESHOLD);
        assertThat(TrainCommand.verdict(ok.toBuilder().setState(JobState.JOB_STATE_FAILED).build(), null)).isEqualTo(PlaidCommand.EXIT_JOB_FAILED);
    }

    @Test
    void anUnreachableServiceIsAMessageNotAStackTrace() {
        StringWriter err = new StringWriter();
        var cl = PlaidCommand.commandLine();
        cl.setErr(new PrintWriter(err));
        int code = cl.execute("train", "list", "--trainer", "127.0.0.1:1");
        assertThat(code).isEqualTo(PlaidCommand.EXIT_SERVICE);
        assertThat(err.toString()).contains("service unavailable").doesNotContain("\tat ");
    }

    @Test
    void demoRefusesTooFewSteps() {
        StringWriter err = new StringWriter();
        var cl = PlaidCommand.commandLine();
        cl.setErr(new PrintWriter(err));
        assertThat(cl.execute("demo", "--steps", "5")).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(err.toString()).contains("--steps must be at least 20");
    }
}

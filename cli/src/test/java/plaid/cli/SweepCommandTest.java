package plaid.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import plaid.v1.SubmitSweepRequest;
import plaid.v1.Sweep;
import plaid.v1.SweepParameter;
import plaid.v1.SweepState;
import plaid.v1.SweepStrategy;
import plaid.v1.SweepTrial;
import plaid.v1.TrialState;

class SweepCommandTest {
    @TempDir
    Path dir;

    /** What `plaid sweep ARGS` would submit, built without contacting a service. */
    static SubmitSweepRequest request(String... args) {
        SweepCommand command = new SweepCommand();
        new CommandLine(command).parseArgs(args);
        return command.request();
    }

    @Test
    void dimensionFlagsAreTheSpaceAndTheRestAreFixedTrainFlags() {
        SubmitSweepRequest request = request(
                "--corpus=demo",
                "--lr=log:1e-4:3e-3",
                "--weight_decay",
                "grid:0,4e-5,1e-4",
                "--trials=4",
                "--max-concurrent=2",
                "--dim=64",
                "--n_heads",
                "2",
                "--early-stop");
        assertThat(request.getParametersList())
                .containsExactly(
                        SweepParameter.newBuilder()
                                .setName("lr")
                                .setRange(plaid.v1.SweepRange.newBuilder()
                                        .setMin(1e-4)
                                        .setMax(3e-3)
                                        .setLog(true))
                                .build(),
                        SweepParameter.newBuilder()
                                .setName("weight_decay")
                                .setGrid(plaid.v1.SweepValues.newBuilder().addAllValues(List.of("0", "4e-5", "1e-4")))
                                .build());
        assertThat(request.getStrategy()).as("a range makes it random").isEqualTo(SweepStrategy.SWEEP_STRATEGY_RANDOM);
        assertThat(request.getTrials()).isEqualTo(4);
        assertThat(request.getMaxConcurrent()).isEqualTo(2);
        assertThat(request.getEarlyStopping().getEnabled()).isTrue();
        assertThat(request.getBase().getCorpus()).isEqualTo("demo");
        assertThat(request.getBase().getShape().getDim()).isEqualTo(64);
        assertThat(request.getBase().getShape().getNHeads()).isEqualTo(2);
        assertThat(request.getBase().getOptimization().hasLr())
                .as("a swept option is not fixed")
                .isFalse();
    }

    @Test
    void gridsAloneMakeAGridSearchOfEveryCombination() {
        SubmitSweepRequest request =
                request("--corpus=demo", "--lr=grid:1e-3,2e-3", "--lr_scheduler=grid:linear,cosine");
        assertThat(request.getStrategy()).isEqualTo(SweepStrategy.SWEEP_STRATEGY_GRID);
        assertThat(request.getTrials()).isZero();
        assertThat(request.getMaxConcurrent()).as("one at a time by default").isEqualTo(1);
    }

    @Test
    void aSpaceFileInYamlOrJsonGivesParametersAndSettings() throws IOException {
        Path yaml = Files.writeString(dir.resolve("space.yaml"), """
                strategy: random
                trials: 3
                parameters:
                  lr: log:1e-4:3e-3
                  weight_decay: [0, 4e-5]
                """);
        SubmitSweepRequest fromYaml = request("--corpus=demo", "--space", yaml.toString(), "--batch_size=16");
        assertThat(fromYaml.getParametersList())
                .extracting(SweepParameter::getName)
                .containsExactly("lr", "weight_decay");
        assertThat(fromYaml.getParameters(1).getGrid().getValuesList())
                .extracting(Double::parseDouble)
                .containsExactly(0.0, 4e-5);
        assertThat(fromYaml.getTrials()).isEqualTo(3);
        assertThat(fromYaml.getBase().getOptimization().getBatchSize()).isEqualTo(16);
        Path json = Files.writeString(
                dir.resolve("space.json"), "{\"parameters\": {\"lr\": [\"1e-3\", \"2e-3\"]}, \"max_concurrent\": 2}");
        SubmitSweepRequest fromJson = request("--corpus=demo", "--space", json.toString(), "--trials=1");
        assertThat(fromJson.getParameters(0).getGrid().getValuesList()).containsExactly("1e-3", "2e-3");
        assertThat(fromJson.getMaxConcurrent()).isEqualTo(2);
        assertThat(fromJson.getTrials())
                .as("the command line wins over the file")
                .isEqualTo(1);
    }

    @Test
    void badSpacesAreRefusedNamingTheOption() throws IOException {
        assertThatThrownBy(() -> request("--lrr=log:1e-4:3e-3", "--trials=2")).hasMessage("unknown option --lrr");
        assertThatThrownBy(() -> request("--lr=log:3e-3:1e-4", "--trials=2"))
                .hasMessageContaining("--lr")
                .hasMessageContaining("empty");
        assertThatThrownBy(() -> request("--lr=uniform:1e-3:1e-3", "--trials=2"))
                .hasMessageContaining("--lr")
                .hasMessageContaining("empty");
        assertThatThrownBy(() -> request("--lr=log:0:1e-3", "--trials=2"))
                .hasMessageContaining("--lr")
                .hasMessageContaining("positive");
        assertThatThrownBy(() -> request("--lr=log:-1:1e-3", "--trials=2")).hasMessageContaining("positive");
        assertThatThrownBy(() -> request("--lr=log:1e-4", "--trials=2")).hasMessageContaining("log:MIN:MAX");
        assertThatThrownBy(() -> request("--lr=uniform:a:1", "--trials=2")).hasMessageContaining("'a' is not a number");
        assertThatThrownBy(() -> request("--lr=grid:")).hasMessageContaining("empty grid value");
        assertThatThrownBy(() -> request("--lr=grid:fast"))
                .hasMessageContaining("--lr")
                .hasMessageContaining("'fast'");
        assertThatThrownBy(() -> request("--lr=log:1e-4:3e-3", "--trials=0"))
                .hasMessage("--trials must be at least 1, got 0");
        assertThatThrownBy(() -> request("--lr=log:1e-4:3e-3")).hasMessage("--trials is needed for a random search");
        assertThatThrownBy(() -> request("--lr=log:1e-4:3e-3", "--trials=2", "--strategy=grid"))
                .hasMessageContaining("--strategy=grid");
        assertThatThrownBy(() -> request("--lr=grid:1e-3", "--max-concurrent=0"))
                .hasMessageContaining("--max-concurrent");
        assertThatThrownBy(() -> request("--batch_size=8")).hasMessageContaining("at least one dimension");
        Path bad = Files.writeString(dir.resolve("bad.yaml"), "parameters:\n  lr: []\n");
        assertThatThrownBy(() -> request("--space", bad.toString())).hasMessageContaining("'lr' has an empty list");
        Path unknownKey = Files.writeString(dir.resolve("k.yaml"), "parameter:\n  lr: [1]\n");
        assertThatThrownBy(() -> request("--space", unknownKey.toString()))
                .hasMessageContaining("unknown key 'parameter'");
    }

    @Test
    void aBadSpaceExitsWithTheUsageCodeWithoutContactingAService() {
        StringWriter err = new StringWriter();
        CommandLine cl = PlaidCommand.commandLine();
        cl.setErr(new PrintWriter(err));
        // Port 1: nothing listens; the refusal must come before any call.
        int code = cl.execute("sweep", "--trainer=127.0.0.1:1", "--lr=log:0:1", "--trials=2");
        assertThat(code).isEqualTo(PlaidCommand.EXIT_USAGE);
        assertThat(err.toString()).contains("--lr").contains("positive");
    }

    @Test
    void theTableOrdersTrialsByValidationNllAndTheBestLineReproducesTheTrial() {
        SubmitSweepRequest request =
                request("--corpus=demo", "--lr=grid:1e-3,2e-3,3e-3", "--dim=64", "--n_heads=2", "--selfcond=False");
        Sweep sweep = Sweep.newBuilder()
                .setId("s")
                .setRequest(request)
                .setState(SweepState.SWEEP_STATE_SUCCEEDED)
                .setBestTrial(2)
                .addTrials(trial(0, "1e-3", TrialState.TRIAL_STATE_SUCCEEDED, 5.5))
                .addTrials(trial(1, "2e-3", TrialState.TRIAL_STATE_STOPPED_EARLY, 6.0))
                .addTrials(trial(2, "3e-3", TrialState.TRIAL_STATE_SUCCEEDED, 5.1))
                .build();
        List<String> rows = SweepCommand.table(sweep).lines().skip(2).toList();
        assertThat(rows).extracting(row -> row.substring(0, 1)).containsExactly("2", "0", "1");
        String line = SweepCommand.commandLine(request.getBase(), sweep.getTrials(2));
        assertThat(line)
                .startsWith("./plaid train --corpus=demo")
                .contains("--dim=64", "--n_heads=2", "--selfcond=False")
                .endsWith("--lr=3e-3");
        // --corpus is plaid train's own option; the rest are train.py's flags.
        List<String> words =
                List.of(line.substring("./plaid train --corpus=demo ".length()).split(" "));
        var again = TrainCommand.run("demo", 0, words);
        assertThat(((TrainCommand.Training) again).spec().getOptimization().getLr())
                .isEqualTo(3e-3);
        assertThat(((TrainCommand.Training) again).spec().getShape())
                .isEqualTo(request.getBase().getShape());
    }

    private static SweepTrial trial(int index, String lr, TrialState state, double nll) {
        return SweepTrial.newBuilder()
                .setIndex(index)
                .putAllParameters(Map.of("lr", lr))
                .setState(state)
                .setValidationNll(nll)
                .setValidationStep(10)
                .setJobId("job-" + index)
                .build();
    }
}

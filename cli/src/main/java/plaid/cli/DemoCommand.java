package plaid.cli;

import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import plaid.v1.CheckpointInfo;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateRequest;
import plaid.v1.Guidance;
import plaid.v1.Job;
import plaid.v1.JobState;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelShape;
import plaid.v1.Optimization;
import plaid.v1.Prefix;
import plaid.v1.Reporting;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.SubmitJobRequest;
import plaid.v1.TextOrTokens;
import plaid.v1.TrainerServiceGrpc;
import plaid.v1.TrainingSpec;

/**
 * The local demo: the three services as processes on loopback, a small model trained on the
 * CPU on English Europarl speeches (bundled with the build), then unconditional and
 * prefix-guided samples printed, and everything shut down.
 */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        description =
                "Start the services locally, train a small model on the demo corpus on the CPU, sample from it, stop.")
final class DemoCommand implements Callable<Integer> {
    @Option(
            names = "--steps",
            defaultValue = "1200",
            description = "training steps (default: ${DEFAULT-VALUE}, a few minutes on 2 cores)")
    int steps;

    @Option(
            names = "--work-dir",
            defaultValue = "runs/demo",
            description = "where the services keep data, checkpoints and logs (default: ${DEFAULT-VALUE})")
    Path workDir;

    @Option(
            names = "--base-port",
            defaultValue = "9101",
            description = "data-svc's port; the trainer and sampler take the next two (default: ${DEFAULT-VALUE})")
    int basePort;

    @Option(
            names = "--prefix",
            defaultValue = "The Commission",
            description = "prefix of the guided samples (default: ${DEFAULT-VALUE})")
    String prefix;

    @Option(
            names = "--sampling-steps",
            defaultValue = "256",
            description = "reverse-diffusion steps per sample (default: ${DEFAULT-VALUE})")
    int samplingSteps;

    @Override
    public Integer call() throws Exception {
        if (steps < 20)
            throw new IllegalArgumentException(
                    "--steps must be at least 20 (the first 10 have a zero learning rate), got " + steps);
        Path home = Path.of(System.getProperty("plaid.home", "."));
        Path work = home.resolve(workDir).toAbsolutePath();
        var services = LocalStack.CpuServices.under(work, basePort, basePort + 1, basePort + 2, List.of());
        System.out.println("starting data-svc, trainer-svc and sampler-svc on 127.0.0.1:" + basePort + "-"
                + (basePort + 2) + " (logs in " + work.resolve("logs") + ")");
        try (LocalStack stack = LocalStack.start(home, work, services.all())) {
            try (Services.Connection trainer =
                            Services.connect(services.trainer().address(), null);
                    Services.Connection sampler =
                            Services.connect(services.sampler().address(), null)) {
                var trainerStub = TrainerServiceGrpc.newBlockingStub(trainer.channel());
                Job job = trainerStub.submitJob(SubmitJobRequest.newBuilder()
                        .setDisplayName("demo")
                        .setSpec(demoSpec())
                        .build());
                System.out.printf(
                        "training job %s: %d steps of a %d-block, %d-wide model on the demo corpus%n",
                        job.getId(),
                        steps,
                        demoSpec().getShape().getNBlocks(),
                        demoSpec().getShape().getDim());
                job = JobWatcher.watch(trainerStub, job.getId(), System.out);
                if (job.getState() != JobState.JOB_STATE_SUCCEEDED || job.getCheckpointsCount() == 0) {
                    System.err.println("plaid: the training job ended " + job.getState()
                            + (job.getFailure().isEmpty() ? "" : ": " + job.getFailure()));
                    return PlaidCommand.EXIT_JOB_FAILED;
                }
                if (job.hasLatestValidation())
                    System.out.printf(
                            "validation NLL %.3f nats/token%n",
                            job.getLatestValidation().getNll());
                CheckpointInfo last = job.getCheckpoints(job.getCheckpointsCount() - 1);

                var samplerStub = SamplerServiceGrpc.newBlockingStub(sampler.channel());
                samplerStub.loadModel(LoadModelRequest.newBuilder()
                        .setName("demo")
                        .setCheckpoint(last.getPath())
                        .build());
                printSamples("unconditional samples", samplerStub.generate(generate(Guidance.getDefaultInstance())));
                Guidance guided = Guidance.newBuilder()
                        .setPrefix(Prefix.newBuilder()
                                .setText(TextOrTokens.newBuilder().setText(prefix))
                                .setWeight(2.0))
                        .build();
                printSamples("samples guided by the prefix \"" + prefix + "\"", samplerStub.generate(generate(guided)));
                return 0;
            } finally {
                System.out.println("stopping the services");
            }
        }
    }

    TrainingSpec demoSpec() {
        return TrainingSpec.newBuilder()
                .setCorpus("demo")
                .setSeed(1)
                .setShape(ModelShape.newBuilder()
                        .setDim(128)
                        .setNBlocks(4)
                        .setNHeads(4)
                        .setEmbedDim(16)
                        .setSeqLen(64)
                        .setVocabSize(2048))
                .setOptimization(Optimization.newBuilder()
                        .setSteps(steps)
                        .setBatchSize(16)
                        .setLr(2e-3)
                        .setLrWarmupSteps(Math.min(100, steps / 5))
                        .setBiasWarmupSteps(Math.min(200, steps / 3)))
                .setReporting(Reporting.newBuilder()
                        .setPrintFreq(10)
                        .setHookFreq(Math.max(10, steps / 3))
                        .setValSteps(5)
                        .setValBatchSize(16)
                        .setFinalValSteps(20)
                        .setKeepCheckpoints(1))
                .build();
    }

    private GenerateRequest generate(Guidance guidance) {
        return GenerateRequest.newBuilder()
                .setModel("demo")
                .setSamples(4)
                .setSeqLen(64)
                .setSteps(samplingSteps)
                .setSeed(7)
                .setGuidance(guidance)
                .setSkipSpecialTokens(true)
                .setProgressEvery(Math.max(1, samplingSteps / 20))
                .build();
    }

    private static void printSamples(String title, Iterator<GenerateEvent> events) {
        ProgressBar bar = new ProgressBar(System.out, "sampling");
        while (events.hasNext()) {
            GenerateEvent e = events.next();
            if (e.hasProgress())
                bar.update(e.getProgress().getStep(), e.getProgress().getSteps(), "");
            if (e.hasResult()) {
                bar.finish();
                System.out.println(title + ":");
                for (String text : e.getResult().getTextsList()) System.out.println("  » " + text.replace("\n", "↵"));
            }
        }
    }
}

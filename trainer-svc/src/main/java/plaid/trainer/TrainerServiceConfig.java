package plaid.trainer;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.nio.file.Path;
import java.util.Optional;
import plaid.model.checkpoint.CheckpointFormat;
import plaid.trainer.cluster.ClusterConfig;

/** Everything the trainer service reads from configuration ({@code application.properties}, env, -D). */
@ConfigMapping(prefix = "trainer-svc")
public interface TrainerServiceConfig {
    /**
     * The run root: corpora requests name, {@code jobs/<id>/} with each job's data, tokenizer and
     * checkpoints, and the embedded database. Requests may name paths only inside it.
     */
    Path root();

    /** The compute backend jobs and evaluations run on: cpu, cuda or auto. */
    @WithDefault("cpu")
    String backend();

    /**
     * data-svc's root, read-only, where the corpora a job's spec.corpus names by name
     * ({@code corpora/<name>}) and the zero-shot raw files lie; relative paths are taken
     * relative to {@link #root()}. The default, {@code data}, is where the compose stack mounts it.
     */
    @WithDefault("data")
    Path corpusRoot();

    /** The HF tokenizer.json for the demo and corpus files (relative to the root); without it each job trains its own. */
    Optional<Path> tokenizer();

    /** Jobs that train at once; the others wait in the queue. */
    @WithDefault("1")
    int concurrentJobs();

    /** How checkpoint weights are written: TORCH (the original's .pt) or SAFETENSORS. */
    @WithDefault("TORCH")
    CheckpointFormat checkpointFormat();

    /** Checkpoints kept per job when the spec leaves keep_checkpoints unset. */
    @WithDefault("3")
    int keepCheckpoints();

    /** Chunks in the training stream's rolling shuffle (the original's 256e6 / seq_len would not fit a small corpus). */
    @WithDefault("4096")
    int shuffleBufferChunks();

    /** Share of a corpus' documents held out for validation (at least one document). */
    @WithDefault("0.05")
    double validationShare();

    /** English Europarl speeches in the built-in corpus {@value TrainingCorpus#DEMO}. */
    @WithDefault("2000")
    int demoDocuments();

    /** ListJobs' page size when the request leaves it at 0, and the most it may ask for. */
    @WithDefault("50")
    int defaultPageSize();

    @WithDefault("500")
    int maxPageSize();

    /** Multi-machine jobs: the rendezvous of their worker processes (see the cluster package). */
    ClusterConfig cluster();
}

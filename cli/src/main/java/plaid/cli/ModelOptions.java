package plaid.cli;

import java.util.regex.Pattern;
import picocli.CommandLine.Option;
import plaid.v1.LoadModelRequest;
import plaid.v1.ModelShape;
import plaid.v1.SamplerServiceGrpc;

/** Which model of the sampler a command uses, loading it from a checkpoint first when one is given. */
final class ModelOptions {
    private static final Pattern NOT_IN_MODEL_NAMES = Pattern.compile("[^A-Za-z0-9._-]+");
    /** Room left in the sampler's 64-character names for the '-' and the 8 hex digits of the hash. */
    private static final int NAME_STEM = 40;

    @Option(
            names = "--model",
            description =
                    "a model name loaded on the sampler (default with --checkpoint: one made from the checkpoint and its shape options)")
    String model;

    @Option(
            names = "--checkpoint",
            description =
                    "load this checkpoint (relative to the sampler's model root) under --model first; sample.py's --weights_path")
    String checkpoint;

    /** Loads the checkpoint if one was given (loading the same one again is a no-op) and returns the model's name. */
    String load(SamplerServiceGrpc.SamplerServiceBlockingStub sampler) {
        return load(sampler, ModelShape.getDefaultInstance());
    }

    /** As {@link #load(SamplerServiceGrpc.SamplerServiceBlockingStub)}, with shape options for weights that have no config.json. */
    String load(SamplerServiceGrpc.SamplerServiceBlockingStub sampler, ModelShape shape) {
        String name = name(shape);
        if (checkpoint != null)
            sampler.loadModel(LoadModelRequest.newBuilder()
                    .setName(name)
                    .setCheckpoint(checkpoint)
                    .setShape(shape)
                    .build());
        return name;
    }

    /**
     * --model, or without it a name of the checkpoint and the shape options (so the same
     * command line loads once, and another shape of the same weights gets its own model).
     */
    String name(ModelShape shape) {
        if (model != null) return model;
        if (checkpoint == null)
            throw new IllegalArgumentException(
                    "give --model (a loaded model), or --checkpoint / --weights_path to load one");
        String stem = NOT_IN_MODEL_NAMES.matcher(checkpoint).replaceAll("-").replaceAll("^[-.]+", "");
        stem = stem.substring(Math.max(0, stem.length() - NAME_STEM));
        return (stem.isEmpty() ? "weights" : stem) + "-" + "%08x".formatted((checkpoint + "\n" + shape).hashCode());
    }
}

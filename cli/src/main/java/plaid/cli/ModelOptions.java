package plaid.cli;

import picocli.CommandLine.Option;
import plaid.v1.LoadModelRequest;
import plaid.v1.SamplerServiceGrpc;

/** Which model of the sampler a command uses, loading it from a checkpoint first when one is given. */
final class ModelOptions {
    @Option(names = "--model", required = true, description = "a model name loaded on the sampler")
    String model;

    @Option(names = "--checkpoint", description = "load this checkpoint (relative to the sampler's model root) under --model first")
    String checkpoint;

    /** Loads the checkpoint if one was given (loading the same one again is a no-op) and returns the model's name. */
    String load(SamplerServiceGrpc.SamplerServiceBlockingStub sampler) {
        if (checkpoint != null) sampler.loadModel(LoadModelRequest.newBuilder().setName(model).setCheckpoint(checkpoint).build());
        return model;
    }
}

package plaid.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.UnloadModelRequest;

@Command(
        name = "unload",
        mixinStandardHelpOptions = true,
        description = "Unload a model from sampler-svc, freeing its slot and memory.")
final class UnloadCommand implements Callable<Integer> {
    @Mixin
    Services services;

    @Parameters(
            paramLabel = "NAME",
            description = "the name the model was loaded under (as `plaid sample --model` takes it)")
    String name;

    @Override
    public Integer call() {
        try (Services.Connection sampler = services.sampler()) {
            var unloaded = SamplerServiceGrpc.newBlockingStub(sampler.channel())
                    .unloadModel(UnloadModelRequest.newBuilder().setName(name).build());
            System.out.println("unloaded " + unloaded.getModel().getName() + " ("
                    + unloaded.getModel().getCheckpoint() + ")");
            return 0;
        }
    }
}

package plaid.cli;

import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import plaid.v1.DataServiceGrpc;
import plaid.v1.TokenizeRequest;
import plaid.v1.TokenizeResponse;

@Command(
        name = "tokenize",
        mixinStandardHelpOptions = true,
        description = "Print the token ids of each text (data-svc).")
final class TokenizeCommand implements Callable<Integer> {
    @Mixin
    Services services;

    @Parameters(arity = "1..*", paramLabel = "TEXT", description = "texts to tokenize, one line of ids each")
    List<String> texts;

    @Override
    public Integer call() {
        try (Services.Connection data = services.data()) {
            TokenizeResponse response = DataServiceGrpc.newBlockingStub(data.channel())
                    .tokenize(TokenizeRequest.newBuilder().addAllTexts(texts).build());
            response.getSequencesList()
                    .forEach(ids -> System.out.println(
                            ids.getIdsList().stream().map(String::valueOf).collect(Collectors.joining(" "))));
            return 0;
        }
    }
}

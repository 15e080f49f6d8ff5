package plaid.cli;

import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.ScoreRequest;
import plaid.v1.TextOrTokens;
import plaid.v1.TextScore;

@Command(
        name = "score",
        mixinStandardHelpOptions = true,
        description = "The NLL bound of each text under a model of sampler-svc, one line per text.")
final class ScoreCommand implements Callable<Integer> {
    @Mixin
    Services services;

    @Mixin
    ModelOptions model;

    @Option(names = "--draws", defaultValue = "0", description = "Monte Carlo draws per text (default: the server's)")
    int draws;

    @Option(names = "--seed", defaultValue = "0")
    long seed;

    @Parameters(arity = "1..*", paramLabel = "TEXT", description = "texts to score")
    List<String> texts;

    @Override
    public Integer call() {
        try (Services.Connection connection = services.sampler()) {
            var sampler = SamplerServiceGrpc.newBlockingStub(connection.channel());
            ScoreRequest.Builder request = ScoreRequest.newBuilder()
                    .setModel(model.load(sampler))
                    .setDraws(draws)
                    .setSeed(seed);
            texts.forEach(t -> request.addTexts(TextOrTokens.newBuilder().setText(t)));
            List<TextScore> scores = sampler.score(request.build()).getScoresList();
            for (int i = 0; i < scores.size(); i++) {
                TextScore s = scores.get(i);
                System.out.printf(
                        "%.4f nats/token over %d tokens  %s%n",
                        s.getNllPerToken(), s.getTokens(), texts.get(i).replace("\n", "↵"));
            }
            return 0;
        }
    }
}

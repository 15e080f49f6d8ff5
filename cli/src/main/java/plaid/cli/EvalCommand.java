package plaid.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import plaid.v1.EvaluateLikelihoodProgress;
import plaid.v1.EvaluateLikelihoodRequest;
import plaid.v1.LikelihoodResult;

@Command(
        name = "eval",
        mixinStandardHelpOptions = true,
        description =
                "The likelihood bound of a checkpoint on a zero-shot corpus (ptb, wikitext2, wikitext103, enwik8, text8, billionword).")
final class EvalCommand implements Callable<Integer> {
    @Mixin
    Services services;

    @Option(names = "--checkpoint", required = true, description = "a checkpoint path as the trainer reports it")
    String checkpoint;

    @Option(names = "--dataset", required = true)
    String dataset;

    @Option(names = "--split", defaultValue = "valid", description = "(default: ${DEFAULT-VALUE})")
    String split;

    @Option(names = "--max-sequences", defaultValue = "0", description = "only the first this many sequences (0: all)")
    int maxSequences;

    @Option(names = "--seed", defaultValue = "0")
    long seed;

    @Override
    public Integer call() {
        return evaluate(
                services,
                EvaluateLikelihoodRequest.newBuilder()
                        .setCheckpoint(checkpoint)
                        .setDataset(dataset)
                        .setSplit(split)
                        .setMaxSequences(maxSequences)
                        .setSeed(seed)
                        .build());
    }

    /** Runs the evaluation, showing progress, and prints the result. */
    static int evaluate(Services services, EvaluateLikelihoodRequest request) {
        return TrainCommand.withTrainer(services, trainer -> {
            var events = trainer.evaluateLikelihood(request);
            ProgressBar bar = new ProgressBar(System.err, "evaluating");
            while (events.hasNext()) {
                EvaluateLikelihoodProgress e = events.next();
                if (e.hasRunning()) {
                    bar.update(
                            e.getRunning().getSequencesDone(),
                            e.getRunning().getSequencesTotal(),
                            String.format("NLL so far %.4f", e.getRunning().getNllSoFar()));
                }
                if (e.hasResult()) {
                    bar.finish();
                    LikelihoodResult r = e.getResult();
                    double perToken = r.getTotalNll() / r.getTokens();
                    System.out.printf(
                            "%s: NLL %.4f nats/token over %d tokens; %s %.4f%n",
                            r.getDataset(),
                            perToken,
                            r.getTokens(),
                            r.getUnit() == LikelihoodResult.Unit.UNIT_CHARACTERS
                                    ? "bits per character"
                                    : "word perplexity",
                            r.getPerplexityOrBpc());
                }
            }
            return 0;
        });
    }
}

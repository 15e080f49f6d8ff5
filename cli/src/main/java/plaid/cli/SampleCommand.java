package plaid.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import plaid.v1.AnyPosition;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateRequest;
import plaid.v1.Guidance;
import plaid.v1.GuidanceTerm;
import plaid.v1.Infill;
import plaid.v1.Negation;
import plaid.v1.Prefix;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.TextOrTokens;
import plaid.v1.UpdateRule;

@Command(name = "sample", mixinStandardHelpOptions = true, description = "Generate text with sampler-svc, with any of sample.py's guidance forms.")
final class SampleCommand implements Callable<Integer> {
    @Mixin
    Services services;

    @Mixin
    ModelOptions model;

    @Option(names = "--samples", defaultValue = "8", description = "sequences (default: ${DEFAULT-VALUE})")
    int samples;

    @Option(names = "--seq-len", defaultValue = "0", description = "tokens per sequence (default: the model's)")
    int seqLen;

    @Option(names = "--steps", defaultValue = "4096", description = "sampling timesteps (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--score-temp", description = "score temperature (default: sample.py's 0.9)")
    Double scoreTemp;

    @Option(names = "--ddim", description = "DDIM updates instead of ancestral")
    boolean ddim;

    @Option(names = "--seed", defaultValue = "0")
    long seed;

    @Option(names = "--prefix", description = "prefix completion: this text at the start")
    String prefix;

    @Option(names = "--infill", arity = "2", paramLabel = "TEXT", description = "infilling: a prefix and a suffix, with --gap positions between")
    List<String> infill;

    @Option(names = "--gap", defaultValue = "40", description = "positions between the infill prefix and suffix (default: ${DEFAULT-VALUE})")
    int gap;

    @Option(names = "--contain", description = "lexical constraint: the text's tokens somewhere ('any')")
    List<String> contain = new ArrayList<>();

    @Option(names = "--negate", description = "negation: the text's tokens nowhere ('all' with complement)")
    List<String> negate = new ArrayList<>();

    @Option(names = "--weight", defaultValue = "2.0", description = "guidance weight of every form (default: ${DEFAULT-VALUE})")
    double weight;

    @Option(names = "--partial-every", defaultValue = "0", description = "print partial decodes every this many steps")
    int partialEvery;

    @Override
    public Integer call() {
        try (Services.Connection connection = services.sampler()) {
            var sampler = SamplerServiceGrpc.newBlockingStub(connection.channel());
            GenerateRequest.Builder request = GenerateRequest.newBuilder().setModel(model.load(sampler)).setSamples(samples).setSeqLen(seqLen)
                    .setSteps(steps).setSeed(seed).setUpdate(ddim ? UpdateRule.UPDATE_RULE_DDIM : UpdateRule.UPDATE_RULE_ANCESTRAL)
                    .setGuidance(guidance()).setPartialDecodeEvery(partialEvery).setSkipSpecialTokens(true);
            if (scoreTemp != null) request.setScoreTemp(scoreTemp);
            ProgressBar bar = new ProgressBar(System.err, "sampling");
            var events = sampler.generate(request.build());
            while (events.hasNext()) {
                GenerateEvent e = events.next();
                if (e.hasProgress()) bar.update(e.getProgress().getStep(), e.getProgress().getSteps(), "");
                if (e.hasPartial()) {
                    bar.finish();
                    System.out.println("step " + e.getPartial().getStep() + ":");
                    e.getPartial().getTextsList().forEach(t -> System.out.println("  … " + t.replace("\n", "↵")));
                }
                if (e.hasResult()) {
                    bar.finish();
                    e.getResult().getTextsList().forEach(t -> System.out.println(t.replace("\n", "↵")));
                }
            }
            return 0;
        }
    }

    private Guidance guidance() {
        Guidance.Builder g = Guidance.newBuilder();
        if (prefix != null) g.setPrefix(Prefix.newBuilder().setText(text(prefix)).setWeight(weight));
        if (infill != null) g.setInfill(Infill.newBuilder().setPrefix(text(infill.get(0))).setSuffix(text(infill.get(1))).setSuffixOffset(gap).setWeight(weight));
        for (String c : contain) g.addTerms(GuidanceTerm.newBuilder().setTarget(text(c)).setWeight(weight).setAny(AnyPosition.getDefaultInstance()));
        for (String n : negate) g.addNegations(Negation.newBuilder().setText(text(n)).setWeight(weight));
        return g.build();
    }

    private static TextOrTokens text(String s) {
        return TextOrTokens.newBuilder().setText(s).build();
    }
}

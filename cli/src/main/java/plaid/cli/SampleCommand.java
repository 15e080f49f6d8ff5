package plaid.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;
import plaid.options.OptionTable;
import plaid.options.PlaidConfig;
import plaid.v1.AnyPosition;
import plaid.v1.GenerateEvent;
import plaid.v1.GenerateRequest;
import plaid.v1.Guidance;
import plaid.v1.GuidanceTerm;
import plaid.v1.Infill;
import plaid.v1.ModelShape;
import plaid.v1.Negation;
import plaid.v1.Prefix;
import plaid.v1.SamplerServiceGrpc;
import plaid.v1.TextOrTokens;
import plaid.v1.TrainingSpec;
import plaid.v1.UpdateRule;

@Command(
        name = "sample",
        mixinStandardHelpOptions = true,
        description = {
            "Generate text with sampler-svc, with any of sample.py's guidance forms.",
            "sample.py's flags are accepted as written: --weights_path (the checkpoint), shape options (--dim=384 --n_heads=6 --diffusion_mode=... "
                    + "--BoW_cumsum_gamma=0.5, for weights without a config.json), --use_secondary_logits=True, --just_unconditional=True."
        })
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

    @Option(
            names = "--infill",
            arity = "2",
            paramLabel = "TEXT",
            description = "infilling: a prefix and a suffix, with --gap positions between")
    List<String> infill;

    @Option(
            names = "--gap",
            defaultValue = "40",
            description = "positions between the infill prefix and suffix (default: ${DEFAULT-VALUE})")
    int gap;

    @Option(names = "--contain", description = "lexical constraint: the text's tokens somewhere ('any')")
    List<String> contain = new ArrayList<>();

    @Option(names = "--negate", description = "negation: the text's tokens nowhere ('all' with complement)")
    List<String> negate = new ArrayList<>();

    @Option(
            names = "--weight",
            defaultValue = "2.0",
            description = "guidance weight of every form (default: ${DEFAULT-VALUE})")
    double weight;

    @Option(names = "--partial-every", defaultValue = "0", description = "print partial decodes every this many steps")
    int partialEvery;

    @Option(
            names = "--validate-only",
            description = "check the command line and print what it resolves to; contacts no service")
    boolean validateOnly;

    @Unmatched
    List<String> originalFlags = new ArrayList<>();

    @Override
    public Integer call() {
        OriginalFlags flags = OriginalFlags.parse(originalFlags);
        flags.take(OptionTable.WEIGHTS_PATH).ifPresent(weights -> {
            if (model.checkpoint != null && !model.checkpoint.equals(weights))
                throw new IllegalArgumentException(
                        "option --weights_path=" + weights + " contradicts --checkpoint " + model.checkpoint);
            model.checkpoint = weights;
        });
        boolean secondaryLogits = flags.take(OptionTable.USE_SECONDARY_LOGITS).orElse(false);
        boolean justUnconditional = flags.take(OptionTable.JUST_UNCONDITIONAL).orElse(false);
        ModelShape.Builder shapeFlags = ModelShape.newBuilder();
        flags.setInto(List.of(shapeFlags));
        ModelShape shape = shapeFlags.build();
        PlaidConfig options =
                OriginalFlags.check(TrainingSpec.newBuilder().setShape(shape).build());
        Guidance guidance = guidance();
        // sample.py's just_unconditional skips its guided demos; here guidance is only what is asked for.
        if (justUnconditional && !guidance.equals(Guidance.getDefaultInstance()))
            throw new IllegalArgumentException(
                    "option --just_unconditional=True samples without guidance: drop --prefix, --infill, --contain and --negate");
        String name = model.name(shape);
        if (validateOnly) {
            System.out.println("valid: " + samples + " samples of " + steps + " steps from model '" + name + "'"
                    + (model.checkpoint != null ? " loaded from '" + model.checkpoint + "'" : "")
                    + (guidance.equals(Guidance.getDefaultInstance()) ? ", unguided" : ", guided")
                    + ": use_secondary_logits=" + secondaryLogits + " " + OriginalFlags.given(shape, options));
            return 0;
        }
        try (Services.Connection connection = services.sampler()) {
            var sampler = SamplerServiceGrpc.newBlockingStub(connection.channel());
            GenerateRequest.Builder request = GenerateRequest.newBuilder()
                    .setModel(model.load(sampler, shape))
                    .setSamples(samples)
                    .setSeqLen(seqLen)
                    .setSteps(steps)
                    .setSeed(seed)
                    .setUpdate(ddim ? UpdateRule.UPDATE_RULE_DDIM : UpdateRule.UPDATE_RULE_ANCESTRAL)
                    .setGuidance(guidance)
                    .setPartialDecodeEvery(partialEvery)
                    .setSkipSpecialTokens(true)
                    .setUseSecondaryLogits(secondaryLogits);
            if (scoreTemp != null) request.setScoreTemp(scoreTemp);
            ProgressBar bar = new ProgressBar(System.err, "sampling");
            var events = sampler.generate(request.build());
            while (events.hasNext()) {
                GenerateEvent e = events.next();
                if (e.hasProgress())
                    bar.update(e.getProgress().getStep(), e.getProgress().getSteps(), "");
                if (e.hasPartial()) {
                    bar.finish();
                    System.out.println("step " + e.getPartial().getStep() + ":");
                    e.getPartial().getTextsList().forEach(t -> System.out.println("  … " + oneLine(t)));
                }
                if (e.hasResult()) {
                    bar.finish();
                    e.getResult().getTextsList().forEach(t -> System.out.println(oneLine(t)));
                }
            }
            return 0;
        }
    }

    private Guidance guidance() {
        Guidance.Builder g = Guidance.newBuilder();
        if (prefix != null)
            g.setPrefix(Prefix.newBuilder().setText(text(prefix)).setWeight(weight));
        if (infill != null)
            g.setInfill(Infill.newBuilder()
                    .setPrefix(text(infill.get(0)))
                    .setSuffix(text(infill.get(1)))
                    .setSuffixOffset(gap)
                    .setWeight(weight));
        for (String c : contain)
            g.addTerms(GuidanceTerm.newBuilder()
                    .setTarget(text(c))
                    .setWeight(weight)
                    .setAny(AnyPosition.getDefaultInstance()));
        for (String n : negate)
            g.addNegations(Negation.newBuilder().setText(text(n)).setWeight(weight));
        return g.build();
    }

    /** One sample per output line: every line break a sample holds (\n, \r, \r\n) shown as ↵. */
    static String oneLine(String text) {
        return text.replaceAll("\r\n|[\n\r]", "↵");
    }

    private static TextOrTokens text(String s) {
        return TextOrTokens.newBuilder().setText(s).build();
    }
}

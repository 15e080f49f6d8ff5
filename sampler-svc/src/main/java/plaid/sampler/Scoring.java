package plaid.sampler;

import io.grpc.stub.StreamObserver;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Arrays;
import org.jboss.logging.Logger;
import plaid.model.sampling.LikelihoodEstimate;
import plaid.model.sampling.LikelihoodEvaluator;
import plaid.service.InvalidArgument;
import plaid.v1.ScoreRequest;
import plaid.v1.ScoreResponse;
import plaid.v1.TextOrTokens;
import plaid.v1.TextScore;

/**
 * Score: the NLL bound of each text by {@link LikelihoodEvaluator}, on the device thread.
 * Every text is scored from the request's seed, so a text's score does not depend on the
 * others in the request.
 */
@ApplicationScoped
public class Scoring {
    private static final Logger LOG = Logger.getLogger(Scoring.class);

    private final ModelRegistry models;
    private final DeviceQueue device;
    private final SamplerServiceConfig config;

    Scoring(ModelRegistry models, DeviceQueue device, SamplerServiceConfig config) {
        this.models = models;
        this.device = device;
        this.config = config;
    }

    /** Checks the request and queues the scoring; must be called on the call's own thread. */
    void start(ScoreRequest request, StreamObserver<ScoreResponse> response) {
        LoadedModel model = models.get(request.getModel(), "model");
        SamplerServiceConfig.Limits limits = config.limits();
        InvalidArgument.requireInRange(request.getTextsCount(), 1, limits.maxScoreTexts(), "texts");
        int draws = request.getDraws() == 0 ? config.defaultScoreDraws() : request.getDraws();
        InvalidArgument.requireInRange(draws, 1, limits.maxScoreDraws(), "draws");
        int[][] texts = new int[request.getTextsCount()][];
        for (int i = 0; i < texts.length; i++) {
            int[] tokens = tokens(model, request.getTexts(i), "texts[" + i + "]");
            InvalidArgument.require(tokens.length > 0, "texts[" + i + "]", "must give at least one token");
            texts[i] = Arrays.copyOf(tokens, Math.min(tokens.length, model.maxSeqLen()));
        }
        CallWatch watch = new CallWatch(response);
        device.submit(() -> score(model, texts, draws, request.getSeed(), watch, response));
    }

    /** A text is checked against the character limit, then tokenized only as far as the model's seq_len reaches. */
    private int[] tokens(LoadedModel model, TextOrTokens value, String field) {
        if (value.getValueCase() != TextOrTokens.ValueCase.TEXT || model.tokenizer() == null)
            return model.tokens(value, field);
        int chars = value.getText().length(), limit = config.limits().maxScoreTextChars();
        InvalidArgument.require(
                chars <= limit, field + ".text", "must be at most " + limit + " characters, got " + chars);
        return model.tokenizer().encode(value.getText(), model.maxSeqLen());
    }

    private static void score(
            LoadedModel model,
            int[][] texts,
            int draws,
            long seed,
            CallWatch watch,
            StreamObserver<ScoreResponse> response) {
        try {
            LikelihoodEvaluator evaluator = new LikelihoodEvaluator(model.config(), model.parameters());
            ScoreResponse.Builder reply = ScoreResponse.newBuilder();
            for (int[] tokens : texts) {
                watch.stopIfClientLeft();
                LikelihoodEstimate estimate = evaluator.evaluate(tokens, model.maxSeqLen(), draws, seed);
                reply.addScores(TextScore.newBuilder()
                        .setNll(estimate.nllPerToken() * tokens.length)
                        .setTokens(tokens.length)
                        .setNllPerToken(estimate.nllPerToken()));
            }
            response.onNext(reply.build());
            response.onCompleted();
        } catch (CallWatch.ClientLeft e) {
            LOG.debugf("scoring with model '%s' stopped: %s", model.name(), e.getMessage());
        } catch (RuntimeException e) {
            LOG.errorf(e, "scoring with model '%s' failed", model.name());
            response.onError(DeviceErrors.status(e, "scoring failed"));
        }
    }
}

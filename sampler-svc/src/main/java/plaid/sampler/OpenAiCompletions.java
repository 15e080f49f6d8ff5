package plaid.sampler;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import plaid.service.InvalidArgument;
import plaid.service.Replies;
import plaid.v1.GenerateRequest;
import plaid.v1.Guidance;
import plaid.v1.Prefix;
import plaid.v1.TextOrTokens;
import plaid.v1.UpdateRule;

/**
 * An OpenAI-compatible face of Generate on the service's HTTP port: {@code POST /v1/completions}
 * and {@code GET /v1/models}. The prompt becomes prefix guidance, {@code n} the samples,
 * {@code max_tokens} the seq_len, {@code temperature} the score_temp; the diffusion options are
 * extra fields (docs/serving.md). {@code stream: true} sends server-sent events: every partial
 * decode as a chunk whose text replaces the choice's previous one (diffusion refines the whole
 * sequence), then the final texts, then {@code [DONE]}. Refusals are Generate's, as HTTP 400
 * (404 for an unknown model, 429 for a full queue) with OpenAI's error body naming the field.
 */
@ApplicationScoped
public class OpenAiCompletions {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The weight of the prompt's prefix guidance when the request sets none (the cli's default). */
    private static final double PROMPT_WEIGHT = 2.0;
    /** Partial decodes of a stream that sets no partial_decode_every: about this many over the run. */
    private static final int STREAMED_DECODES = 16;

    private static final int MAX_BODY_BYTES = 1 << 20;
    private static final Set<String> FIELDS = Set.of(
            "model",
            "prompt",
            "n",
            "max_tokens",
            "seed",
            "temperature",
            "stream",
            "stream_options",
            "user",
            "top_p",
            "stop",
            "echo",
            "logprobs",
            "best_of",
            "suffix",
            "frequency_penalty",
            "presence_penalty",
            "logit_bias",
            "steps",
            "update",
            "prompt_weight",
            "guidance",
            "partial_decode_every",
            "initial_noise_scale",
            "skip_special_tokens",
            "use_secondary_logits");
    /** Generate's field names as this API spells them, for refusals. */
    private static final Map<String, String> RENAMED = Map.of(
            "samples",
            "n",
            "seq_len",
            "max_tokens",
            "score_temp",
            "temperature",
            "guidance.prefix.text",
            "prompt",
            "guidance.prefix.weight",
            "prompt_weight");

    private final Generation generation;
    private final ModelRegistry models;
    private final Optional<byte[]> token;

    OpenAiCompletions(
            Generation generation,
            ModelRegistry models,
            @ConfigProperty(name = "plaid.auth.token") Optional<String> token) {
        this.generation = generation;
        this.models = models;
        this.token = token.filter(t -> !t.isBlank()).map(t -> t.getBytes(StandardCharsets.UTF_8));
    }

    void routes(@Observes Router router) {
        router.post("/v1/completions")
                .handler(BodyHandler.create().setBodyLimit(MAX_BODY_BYTES))
                .blockingHandler(this::completions, false);
        router.get("/v1/models").blockingHandler(this::listModels, false);
    }

    private void listModels(RoutingContext ctx) {
        if (!authorized(ctx)) return;
        ArrayNode data = JSON.createArrayNode();
        for (LoadedModel model : models.list())
            data.addObject()
                    .put("id", model.name())
                    .put("object", "model")
                    .put("created", model.loadedAt().getEpochSecond())
                    .put("owned_by", "plaid")
                    .put("max_model_len", model.maxSeqLen());
        ObjectNode body = JSON.createObjectNode().put("object", "list");
        body.set("data", data);
        send(ctx.response(), 200, body);
    }

    private void completions(RoutingContext ctx) {
        if (!authorized(ctx)) return;
        JsonNode body;
        try {
            body = JSON.readTree(ctx.body().asString());
            if (body == null || !body.isObject()) throw InvalidArgument.of("body", "must be a JSON object");
        } catch (JsonProcessingException e) {
            error(ctx.response(), InvalidArgument.of("body", "is not valid JSON: " + e.getOriginalMessage()));
            return;
        } catch (StatusRuntimeException e) {
            error(ctx.response(), e);
            return;
        }
        boolean stream = body.path("stream").asBoolean(false);
        Completion completion = new Completion(
                ctx,
                body.path("model").asText(),
                stream,
                body.path("stream_options").path("include_usage").asBoolean(false));
        try {
            GenerateRequest request = translate(body);
            completion.promptTokens = promptTokens(request);
            completion.seqLen = request.getSeqLen() == 0
                    ? models.get(request.getModel(), "model").maxSeqLen()
                    : request.getSeqLen();
            generation.submit(request, completion);
        } catch (RuntimeException e) {
            error(ctx.response(), renamed(Replies.status(e)));
        }
    }

    /** The request as Generate takes it; fields this API has and Generate cannot honour are refused by name. */
    private GenerateRequest translate(JsonNode body) {
        body.fieldNames()
                .forEachRemaining(name ->
                        InvalidArgument.require(FIELDS.contains(name), name, "is not a field of /v1/completions"));
        GenerateRequest.Builder request = GenerateRequest.newBuilder();
        request.setModel(text(body, "model", true));
        request.setSamples(integer(body, "n", 1));
        request.setSeqLen(integer(body, "max_tokens", 0));
        request.setSeed(body.has("seed") ? longValue(body, "seed") : 0);
        if (body.has("temperature")) {
            double temperature = number(body, "temperature");
            InvalidArgument.require(
                    temperature > 0,
                    "temperature",
                    "must be positive (it divides the score, as sample.py's score_temp), got " + temperature);
            request.setScoreTemp(temperature);
        }
        request.setSteps(integer(body, "steps", 0));
        if (body.has("update"))
            request.setUpdate(
                    switch (text(body, "update", true)) {
                        case "ancestral" -> UpdateRule.UPDATE_RULE_ANCESTRAL;
                        case "ddim" -> UpdateRule.UPDATE_RULE_DDIM;
                        default ->
                            throw InvalidArgument.of(
                                    "update", "must be \"ancestral\" or \"ddim\", got " + body.get("update"));
                    });
        if (body.has("initial_noise_scale")) request.setInitialNoiseScale(number(body, "initial_noise_scale"));
        request.setSkipSpecialTokens(bool(body, "skip_special_tokens"));
        request.setUseSecondaryLogits(bool(body, "use_secondary_logits"));
        Guidance.Builder guidance = Guidance.newBuilder();
        if (body.has("guidance")) {
            try {
                JsonFormat.parser().merge(body.get("guidance").toString(), guidance);
            } catch (InvalidProtocolBufferException e) {
                throw InvalidArgument.of("guidance", "is not a plaid.v1.Guidance in JSON: " + e.getMessage());
            }
        }
        String prompt = prompt(body.get("prompt"));
        if (!prompt.isEmpty()) {
            InvalidArgument.require(!guidance.hasPrefix(), "prompt", "and guidance.prefix cannot both be given");
            guidance.setPrefix(Prefix.newBuilder()
                    .setText(TextOrTokens.newBuilder().setText(prompt))
                    .setWeight(body.has("prompt_weight") ? number(body, "prompt_weight") : PROMPT_WEIGHT));
        }
        request.setGuidance(guidance);
        int partialEvery = integer(body, "partial_decode_every", 0);
        boolean stream = bool(body, "stream");
        InvalidArgument.require(partialEvery == 0 || stream, "partial_decode_every", "needs stream: true");
        if (stream && partialEvery == 0) {
            int steps = request.getSteps() == 0 ? 4096 : Math.max(request.getSteps(), 1);
            partialEvery = Math.max(1, steps / STREAMED_DECODES);
        }
        request.setPartialDecodeEvery(partialEvery);
        request.setProgressEvery(Integer.MAX_VALUE); // progress has no place in this API
        refuseUnsupported(body);
        return request.build();
    }

    /** OpenAI's options that would change the answer in ways a diffusion sampler has no counterpart for. */
    private static void refuseUnsupported(JsonNode body) {
        InvalidArgument.require(
                !body.has("top_p") || number(body, "top_p") == 1.0, "top_p", "is not supported (only 1)");
        for (String field : List.of("stop", "suffix", "logit_bias"))
            InvalidArgument.require(
                    !body.hasNonNull(field)
                            || body.get(field).isEmpty() && !body.get(field).isTextual()
                            || body.get(field).isTextual()
                                    && body.get(field).asText().isEmpty(),
                    field,
                    "is not supported");
        InvalidArgument.require(!bool(body, "echo"), "echo", "is not supported");
        InvalidArgument.require(
                !body.hasNonNull("logprobs") || body.get("logprobs").asInt(-1) == 0, "logprobs", "is not supported");
        InvalidArgument.require(
                !body.hasNonNull("best_of") || integer(body, "best_of", 1) == integer(body, "n", 1),
                "best_of",
                "must equal n");
        for (String field : List.of("frequency_penalty", "presence_penalty"))
            InvalidArgument.require(
                    !body.hasNonNull(field) || number(body, field) == 0, field, "is not supported (only 0)");
    }

    private static String prompt(JsonNode prompt) {
        if (prompt == null || prompt.isNull()) return "";
        if (prompt.isTextual()) return prompt.asText();
        if (prompt.isArray() && prompt.size() == 1 && prompt.get(0).isTextual())
            return prompt.get(0).asText();
        throw InvalidArgument.of("prompt", "must be one string (a list of prompts or of token ids is not supported)");
    }

    private int promptTokens(GenerateRequest request) {
        if (!request.getGuidance().hasPrefix()) return 0;
        return models.get(request.getModel(), "model")
                .tokens(request.getGuidance().getPrefix().getText(), "prompt")
                .length;
    }

    private static String text(JsonNode body, String field, boolean required) {
        JsonNode value = body.get(field);
        if (value == null || value.isNull()) {
            InvalidArgument.require(!required, field, "must be given");
            return "";
        }
        InvalidArgument.require(value.isTextual(), field, "must be a string, got " + value);
        return value.asText();
    }

    private static int integer(JsonNode body, String field, int unset) {
        JsonNode value = body.get(field);
        if (value == null || value.isNull()) return unset;
        InvalidArgument.require(
                value.isIntegralNumber() && value.canConvertToInt(), field, "must be an integer, got " + value);
        InvalidArgument.require(value.asInt() > 0, field, "must be positive, got " + value);
        return value.asInt();
    }

    private static long longValue(JsonNode body, String field) {
        JsonNode value = body.get(field);
        InvalidArgument.require(
                value.isIntegralNumber() && value.canConvertToLong(), field, "must be an integer, got " + value);
        return value.asLong();
    }

    private static double number(JsonNode body, String field) {
        JsonNode value = body.get(field);
        InvalidArgument.require(
                value.isNumber() && Double.isFinite(value.asDouble()), field, "must be a finite number, got " + value);
        return value.asDouble();
    }

    private static boolean bool(JsonNode body, String field) {
        JsonNode value = body.get(field);
        if (value == null || value.isNull()) return false;
        InvalidArgument.require(value.isBoolean(), field, "must be true or false, got " + value);
        return value.asBoolean();
    }

    /** One completion's answer: a JSON body at the end, or server-sent events as it goes. */
    private static final class Completion implements GenerationSink {
        private final HttpServerResponse response;
        private final String id = "cmpl-" + UUID.randomUUID();
        private final long created = System.currentTimeMillis() / 1000;
        private final String model;
        private final boolean stream, includeUsage;
        private final CompletableFuture<Void> closed = new CompletableFuture<>();
        int promptTokens, seqLen;

        Completion(RoutingContext ctx, String model, boolean stream, boolean includeUsage) {
            this.response = ctx.response();
            this.model = model;
            this.stream = stream;
            this.includeUsage = includeUsage;
            response.closeHandler(v -> closed.complete(null));
        }

        @Override
        public void progress(int step, int steps, double elapsedSeconds) {}

        @Override
        public void partial(int step, int[][] tokens, List<String> texts) {
            if (!stream) return;
            begin();
            ObjectNode chunk = chunk();
            ArrayNode choices = chunk.putArray("choices");
            for (int i = 0; i < tokens.length; i++)
                choices.addObject()
                        .put("index", i)
                        .put("text", i < texts.size() ? texts.get(i) : "")
                        .put("step", step)
                        .putNull("finish_reason");
            event(chunk);
        }

        @Override
        public void result(int[][] tokens, List<String> texts, double elapsedSeconds) {
            ObjectNode usage = JSON.createObjectNode()
                    .put("prompt_tokens", promptTokens)
                    .put("completion_tokens", tokens.length * seqLen)
                    .put("total_tokens", promptTokens + tokens.length * seqLen);
            ObjectNode answer = stream
                    ? chunk()
                    : JSON.createObjectNode()
                            .put("id", id)
                            .put("object", "text_completion")
                            .put("created", created)
                            .put("model", model);
            ArrayNode choices = answer.putArray("choices");
            for (int i = 0; i < tokens.length; i++)
                choices.addObject()
                        .put("index", i)
                        .put("text", i < texts.size() ? texts.get(i) : "")
                        .putNull("logprobs")
                        .put("finish_reason", "length");
            if (!stream) {
                answer.set("usage", usage);
                send(response, 200, answer);
                return;
            }
            begin();
            event(answer);
            if (includeUsage) {
                ObjectNode last = chunk();
                last.putArray("choices");
                last.set("usage", usage);
                event(last);
            }
            if (!response.closed()) response.end("data: [DONE]\n\n");
        }

        @Override
        public void fail(StatusRuntimeException error) {
            if (!stream || !response.headWritten()) {
                error(response, error);
                return;
            }
            event(errorBody(error));
            if (!response.closed()) response.end();
        }

        @Override
        public FinishReason left() {
            return closed.isDone() ? FinishReason.CANCELLED : null;
        }

        private ObjectNode chunk() {
            return JSON.createObjectNode()
                    .put("id", id)
                    .put("object", "text_completion")
                    .put("created", created)
                    .put("model", model);
        }

        private void begin() {
            if (response.headWritten() || response.closed()) return;
            response.setChunked(true)
                    .putHeader("content-type", "text/event-stream")
                    .putHeader("cache-control", "no-cache");
        }

        private void event(ObjectNode data) {
            if (!response.closed()) response.write("data: " + data + "\n\n");
        }
    }

    private boolean authorized(RoutingContext ctx) {
        if (token.isEmpty()) return true;
        String authorization = ctx.request().getHeader("authorization");
        String scheme = "Bearer ";
        if (authorization != null
                && authorization.regionMatches(true, 0, scheme, 0, scheme.length())
                && MessageDigest.isEqual(
                        token.get(), authorization.substring(scheme.length()).getBytes(StandardCharsets.UTF_8)))
            return true;
        error(
                ctx.response(),
                Status.UNAUTHENTICATED
                        .withDescription("this service requires 'authorization: Bearer <token>' (plaid.auth.token)")
                        .asRuntimeException());
        return false;
    }

    /** A Generate refusal with its field as this API names it. */
    private static StatusRuntimeException renamed(StatusRuntimeException e) {
        String description = e.getStatus().getDescription();
        if (description == null) return e;
        for (var rename : RENAMED.entrySet())
            if (description.startsWith(rename.getKey() + " "))
                return e.getStatus()
                        .withDescription(rename.getValue()
                                + description.substring(rename.getKey().length()))
                        .asRuntimeException();
        return e;
    }

    private static void error(HttpServerResponse response, StatusRuntimeException e) {
        int code = switch (e.getStatus().getCode()) {
            case INVALID_ARGUMENT -> 400;
            case UNAUTHENTICATED -> 401;
            case NOT_FOUND -> 404;
            case RESOURCE_EXHAUSTED -> 429;
            default -> 500;
        };
        send(response, code, errorBody(e));
    }

    private static ObjectNode errorBody(StatusRuntimeException e) {
        String message = e.getStatus().getDescription() == null
                ? e.getStatus().getCode().name()
                : e.getStatus().getDescription();
        ObjectNode error = JSON.createObjectNode();
        ObjectNode detail = error.putObject("error")
                .put("message", message)
                .put(
                        "type",
                        switch (e.getStatus().getCode()) {
                            case INVALID_ARGUMENT, NOT_FOUND -> "invalid_request_error";
                            case UNAUTHENTICATED -> "authentication_error";
                            case RESOURCE_EXHAUSTED -> "rate_limit_error";
                            default -> "server_error";
                        });
        int space = message.indexOf(' ');
        if (e.getStatus().getCode() == Status.Code.INVALID_ARGUMENT && space > 0)
            detail.put("param", message.substring(0, space));
        else detail.putNull("param");
        detail.put("code", e.getStatus().getCode().name().toLowerCase(java.util.Locale.ROOT));
        return error;
    }

    private static void send(HttpServerResponse response, int code, ObjectNode body) {
        if (response.closed() || response.ended()) return;
        response.setStatusCode(code)
                .putHeader("content-type", "application/json")
                .end(body.toString());
    }
}

package plaid.model.sampling;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import plaid.backend.ComputeBackend;
import plaid.model.ParameterGroup;
import plaid.model.PlaidParameters;
import plaid.model.checkpoint.Safetensors;
import plaid.model.checkpoint.TorchCheckpoint;
import plaid.options.PlaidConfig;
import plaid.tensor.HostTensor;

/** One {@code sampler/*} directory: the original's weights, config and recorded trajectories. */
record SamplerFixture(Path dir, JsonNode json, PlaidConfig config, Map<String, HostTensor> trajectories) {

    static SamplerFixture load(Path dir) throws IOException {
        JsonNode json = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        PlaidConfig config = PlaidConfig.defaults();
        for (String key : new String[] {"dim", "n_blocks", "n_heads", "vocab_size", "embed_dim"})
            config.set(key, json.get(key).asText());
        return new SamplerFixture(dir, json, config, Safetensors.read(dir.resolve("trajectories.safetensors")));
    }

    PlaidParameters parameters(ComputeBackend backend) throws IOException {
        Map<ParameterGroup, Map<String, HostTensor>> weights = new EnumMap<>(ParameterGroup.class);
        for (ParameterGroup g : ParameterGroup.values())
            weights.put(g, TorchCheckpoint.read(dir.resolve(g.fileStem() + ".pt")));
        return PlaidParameters.fromStateDicts(config, backend, weights);
    }

    /** The recorded calls: call0, call1, … as long as their tensors exist. */
    List<Integer> calls() {
        List<Integer> calls = new ArrayList<>();
        for (int c = 0; trajectories.containsKey("call" + c + ".initial_z"); c++) calls.add(c);
        return calls;
    }

    HostTensor tensor(String name) {
        HostTensor t = trajectories.get(name);
        if (t == null) throw new IllegalStateException(dir + ": no tensor " + name);
        return t;
    }

    /** The request call {@code c} made: its shape from the recorded tensors, guidance from {@code call<c>_guidance}. */
    SamplingRequest request(int c) {
        HostTensor initial = tensor("call" + c + ".initial_z");
        List<GuidanceTerm> guidance = new ArrayList<>();
        JsonNode terms = json.get("call" + c + "_guidance");
        if (terms != null) {
            for (JsonNode t : terms) guidance.add(term(t));
        }
        return new SamplingRequest(
                initial.dim(0),
                initial.dim(1),
                json.get("sampling_timesteps").asInt(),
                json.get("score_temp").asDouble(),
                json.get("initial_noise_scale").asDouble(),
                SamplingRequest.Update.ANCESTRAL,
                guidance);
    }

    /** [token, weight, position | "any" | "all", complement] as sample.py takes it. */
    private static GuidanceTerm term(JsonNode t) {
        JsonNode position = t.get(2);
        GuidanceTerm.Position where = switch (position.asText()) {
            case "any" -> new GuidanceTerm.Anywhere();
            case "all" -> new GuidanceTerm.Everywhere();
            default -> new GuidanceTerm.At(position.asInt());
        };
        return new GuidanceTerm(
                t.get(0).asInt(), t.get(1).asDouble(), where, t.get(3).asBoolean());
    }

    /** Call {@code c}'s recorded draws, in the order the original made them. */
    NoiseSource recordedNoise(int c) {
        double[] initial = tensor("call" + c + ".initial_z").toDoubles();
        double[] steps = tensor("call" + c + ".step_noise").toDoubles();
        return new NoiseSource() {
            private int consumed;

            @Override
            public void initialLatent(double[] out) {
                System.arraycopy(initial, 0, out, 0, out.length);
            }

            @Override
            public void stepNoise(double[] out) {
                System.arraycopy(steps, consumed, out, 0, out.length);
                consumed += out.length;
            }
        };
    }
}

package plaid.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import plaid.backend.ComputeBackend;
import plaid.model.checkpoint.TorchCheckpoint;
import plaid.options.PlaidConfig;
import plaid.tensor.HostTensor;

/** One directory of the original code's outputs: its config, weights and recorded tensors. */
record ParityFixture(
        Path dir,
        JsonNode json,
        PlaidConfig config,
        Map<ParameterGroup, Map<String, HostTensor>> weights,
        Map<String, HostTensor> tensors) {

    static ParityFixture load(Path dir, String tensorFile) throws IOException {
        JsonNode json = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        PlaidConfig config = PlaidConfig.defaults();
        for (String key : new String[] {
            "dim", "n_blocks", "n_heads", "vocab_size", "embed_dim", "seq_len", "batch_size", "reconst_weight"
        }) {
            if (json.has(key)) config.set(key, json.get(key).asText());
        }
        // the saved bounds are what counts; the config's gamma_0/1 are only the init values
        Map<ParameterGroup, Map<String, HostTensor>> weights = new EnumMap<>(ParameterGroup.class);
        for (ParameterGroup g : ParameterGroup.values())
            weights.put(g, TorchCheckpoint.read(dir.resolve(g.fileStem() + ".pt")));
        return new ParityFixture(
                dir, json, config, weights, plaid.model.checkpoint.Safetensors.read(dir.resolve(tensorFile)));
    }

    PlaidParameters parameters(ComputeBackend backend) {
        return PlaidParameters.fromStateDicts(config, backend, weights);
    }

    HostTensor tensor(String name) {
        HostTensor t = tensors.get(name);
        if (t == null) throw new IllegalStateException(dir + ": no tensor " + name);
        return t;
    }

    boolean has(String name) {
        return tensors.containsKey(name);
    }

    double number(String key) {
        return json.get(key).asDouble();
    }

    /** ‖a − b‖ / ‖b‖ over all elements. */
    static double relativeError(double[] actual, double[] expected) {
        if (actual.length != expected.length)
            throw new AssertionError("lengths differ: " + actual.length + " vs " + expected.length);
        double num = 0, den = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    static double relativeError(float[] actual, double[] expected) {
        double[] a = new double[actual.length];
        for (int i = 0; i < a.length; i++) a[i] = actual[i];
        return relativeError(a, expected);
    }
}

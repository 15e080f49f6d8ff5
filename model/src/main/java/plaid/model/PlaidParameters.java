package plaid.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import plaid.backend.ComputeBackend;
import plaid.backend.Tensor;
import plaid.options.PlaidConfig;
import plaid.options.bow.DiffusionMode;
import plaid.tensor.HostTensor;

/**
 * All of Plaid's parameters, in the four groups and with the state-dict names of the
 * original (plaid-reference §1), plus the rotary frequency buffer the model state dict
 * carries. Values and gradients live on the backend. The options that shaped them are not
 * kept here: the model classes take the {@link PlaidConfig} beside the parameters.
 */
public final class PlaidParameters {
    private final ComputeBackend backend;
    private final Map<String, Parameter> byName = new LinkedHashMap<>();
    private final float[] rotaryInvFreq;

    private PlaidParameters(PlaidConfig config, ComputeBackend backend, float[] rotaryInvFreq) {
        this.backend = backend;
        this.rotaryInvFreq = rotaryInvFreq;
        for (ParameterSpec spec : specs(config)) {
            Tensor value = backend.allocate(spec.shape);
            Tensor grad = backend.allocate(spec.shape);
            byName.put(key(spec.group, spec.name), new Parameter(spec.group, spec.name, value, grad, spec.matrixLike));
        }
    }

    private record ParameterSpec(ParameterGroup group, String name, int[] shape, boolean matrixLike) {}

    /** What the original's modules declare, in their state-dict order. */
    private static List<ParameterSpec> specs(PlaidConfig c) {
        int d = c.dim, e = c.embedDim;
        List<ParameterSpec> s = new ArrayList<>();
        s.add(new ParameterSpec(ParameterGroup.MODEL, "input_linear.weight", new int[] {d, e}, false));
        s.add(new ParameterSpec(ParameterGroup.MODEL, "selfcond_linear.weight", new int[] {d, e}, false));
        s.add(new ParameterSpec(ParameterGroup.MODEL, "gamma_linear.weight", new int[] {d, 64}, false));
        for (int i = 0; i < c.nBlocks; i++) {
            String p = "blocks." + i + ".";
            s.add(new ParameterSpec(ParameterGroup.MODEL, p + "rmsnorm1.weight", new int[] {d}, false));
            s.add(new ParameterSpec(ParameterGroup.MODEL, p + "attn_qkv.weight", new int[] {3 * d, d}, true));
            s.add(new ParameterSpec(ParameterGroup.MODEL, p + "attn_out.weight", new int[] {d, d}, true));
            s.add(new ParameterSpec(ParameterGroup.MODEL, p + "rmsnorm2.weight", new int[] {d}, false));
            s.add(new ParameterSpec(ParameterGroup.MODEL, p + "mlp.fc1.weight", new int[] {4 * d, d}, true));
            s.add(new ParameterSpec(ParameterGroup.MODEL, p + "mlp.fc2.weight", new int[] {d, 4 * d}, true));
        }
        DiffusionMode mode = c.diffusionMode();
        if (mode.contains(DiffusionMode.Word.DOUBLE_LOGIT_REG)) {
            // two readouts with norms of their own: direct logits [V] and the bow-space x̂ [E]
            addReadout(s, "_logits", d, c.vocabSize);
            addReadout(s, "_embed", d, e);
        } else {
            // reconst_first's readout predicts the bow-space x̂ [E] instead of the logits [V]
            addReadout(s, "", d, mode.contains(DiffusionMode.Word.RECONST_FIRST) ? e : c.vocabSize);
        }
        s.add(new ParameterSpec(ParameterGroup.NOISE_SCHEDULE, "W1", new int[] {1024, 1}, false));
        s.add(new ParameterSpec(ParameterGroup.NOISE_SCHEDULE, "b1", new int[] {1024}, false));
        s.add(new ParameterSpec(ParameterGroup.NOISE_SCHEDULE, "W2", new int[] {1, 1024}, false));
        s.add(new ParameterSpec(ParameterGroup.GAMMA_BOUNDS, "gamma_0", new int[] {}, false));
        s.add(new ParameterSpec(ParameterGroup.GAMMA_BOUNDS, "gamma_1", new int[] {}, false));
        s.add(new ParameterSpec(ParameterGroup.EMBEDDING_MATRIX, "matrix", new int[] {c.vocabSize, e}, false));
        return s;
    }

    /** output_norm{suffix}.weight [D] and the µP readout output_linear{suffix} [width, D] with its bias. */
    private static void addReadout(List<ParameterSpec> s, String suffix, int d, int width) {
        s.add(new ParameterSpec(ParameterGroup.MODEL, "output_norm" + suffix + ".weight", new int[] {d}, false));
        s.add(new ParameterSpec(
                ParameterGroup.MODEL, "output_linear" + suffix + ".weight", new int[] {width, d}, false));
        s.add(new ParameterSpec(ParameterGroup.MODEL, "output_linear" + suffix + ".bias", new int[] {width}, false));
    }

    private static String key(ParameterGroup g, String name) {
        return g.fileStem() + "/" + name;
    }

    /** The rotary buffer as the original computes it in float32: 1 / 10000^(2j/d). */
    static float[] defaultRotaryInvFreq(int headDim) {
        float[] f = new float[headDim / 2];
        for (int j = 0; j < f.length; j++) f[j] = (float) (1.0 / (float) Math.pow(10000.0, (float) (2 * j) / headDim));
        return f;
    }

    /** Freshly initialised as the original's constructors do, from {@code seed}. */
    public static PlaidParameters initialize(PlaidConfig config, ComputeBackend backend, long seed) {
        config.validate();
        PlaidParameters p = new PlaidParameters(config, backend, defaultRotaryInvFreq(config.headDim()));
        SplittableRandom rng = new SplittableRandom(seed);
        for (Parameter param : p.byName.values()) {
            float[] v = new float[(int) param.value().numel()];
            String n = param.name();
            if (n.endsWith("norm1.weight") || n.endsWith("norm2.weight") || n.startsWith("output_norm")) {
                Arrays.fill(v, 1f);
            } else if (n.equals("selfcond_linear.weight")
                    || n.equals("gamma_linear.weight")
                    || n.startsWith("output_linear")) {
                // zero-initialised in the original
            } else if (n.equals("gamma_0")) {
                v[0] = (float) config.gamma0;
            } else if (n.equals("gamma_1")) {
                v[0] = (float) config.gamma1;
            } else if (param.group() == ParameterGroup.NOISE_SCHEDULE) {
                for (int i = 0; i < v.length; i++) v[i] = (float) gaussian(rng);
            } else if (n.equals("matrix")) {
                int e = config.embedDim;
                for (int r = 0; r < v.length / e; r++) {
                    double norm = 0;
                    for (int j = 0; j < e; j++) {
                        v[r * e + j] = (float) gaussian(rng);
                        norm += v[r * e + j] * v[r * e + j];
                    }
                    for (int j = 0; j < e; j++) v[r * e + j] /= (float) Math.sqrt(norm);
                }
            } else {
                // nn.Linear's default: U(−1/√fan_in, 1/√fan_in)
                int fanIn = param.shape()[1];
                double bound = 1.0 / Math.sqrt(fanIn);
                for (int i = 0; i < v.length; i++) v[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
            }
            backend.upload(v, param.value());
        }
        return p;
    }

    private static double gaussian(SplittableRandom rng) {
        double u1 = rng.nextDouble(), u2 = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }

    /**
     * Loads the four state dicts (as read from {@code <group>.pt} or safetensors files).
     * A missing tensor or a shape that does not fit {@code config} is an error naming it.
     */
    public static PlaidParameters fromStateDicts(
            PlaidConfig config, ComputeBackend backend, Map<ParameterGroup, Map<String, HostTensor>> stateDicts) {
        config.validate();
        Map<String, HostTensor> model = stateDicts.get(ParameterGroup.MODEL);
        if (model == null)
            throw new IllegalArgumentException("missing state dict '" + ParameterGroup.MODEL.fileStem() + "'");
        HostTensor inv = model.get("rotary_emb.inv_freq");
        float[] invFreq = inv != null ? inv.toFloats() : defaultRotaryInvFreq(config.headDim());
        if (invFreq.length != config.headDim() / 2) {
            throw new IllegalArgumentException("model.rotary_emb.inv_freq has " + invFreq.length + " values; head dim "
                    + config.headDim() + " needs " + config.headDim() / 2);
        }
        PlaidParameters p = new PlaidParameters(config, backend, invFreq);
        for (Parameter param : p.byName.values()) {
            Map<String, HostTensor> dict = stateDicts.get(param.group());
            if (dict == null)
                throw new IllegalArgumentException(
                        "missing state dict '" + param.group().fileStem() + "'");
            HostTensor t = dict.get(param.name());
            String where = param.group().fileStem() + "." + param.name();
            if (t == null) throw new IllegalArgumentException("missing tensor " + where);
            if (!Arrays.equals(t.shape(), param.shape())) {
                throw new IllegalArgumentException("tensor " + where + " has shape " + Arrays.toString(t.shape())
                        + " but the configuration needs " + Arrays.toString(param.shape()));
            }
            backend.upload(t.toFloats(), param.value());
        }
        return p;
    }

    /** The four state dicts, named and ordered as the original saves them. */
    public Map<ParameterGroup, Map<String, HostTensor>> toStateDicts() {
        Map<ParameterGroup, Map<String, HostTensor>> out = new EnumMap<>(ParameterGroup.class);
        for (ParameterGroup g : ParameterGroup.values()) out.put(g, new LinkedHashMap<>());
        for (Parameter param : byName.values()) {
            Map<String, HostTensor> dict = out.get(param.group());
            dict.put(param.name(), HostTensor.ofFloats(param.shape(), backend.download(param.value())));
            if (param.name().equals("gamma_linear.weight")) {
                dict.put("rotary_emb.inv_freq", HostTensor.ofFloats(new int[] {rotaryInvFreq.length}, rotaryInvFreq));
            }
        }
        return out;
    }

    public ComputeBackend backend() {
        return backend;
    }

    public float[] rotaryInvFreq() {
        return rotaryInvFreq.clone();
    }

    /** The noise schedule as its parameters are now. */
    public NoiseSchedule noiseSchedule() {
        return new NoiseSchedule(
                backend.download(get(ParameterGroup.NOISE_SCHEDULE, "W1").value()),
                backend.download(get(ParameterGroup.NOISE_SCHEDULE, "b1").value()),
                backend.download(get(ParameterGroup.NOISE_SCHEDULE, "W2").value()));
    }

    /** γ0 and γ1, the bounds γ(t) spans (float32 parameters read as float64, as the original). */
    public double[] gammaBounds() {
        return new double[] {
            backend.download(get(ParameterGroup.GAMMA_BOUNDS, "gamma_0").value())[0],
            backend.download(get(ParameterGroup.GAMMA_BOUNDS, "gamma_1").value())[0]
        };
    }

    /** Ê, the row-normalised embedding matrix, on the host. */
    public float[] normalizedEmbedding() {
        Parameter matrix = get(ParameterGroup.EMBEDDING_MATRIX, "matrix");
        return EmbeddingMatrix.normalize(backend.download(matrix.value()), matrix.shape()[1]);
    }

    public Parameter get(ParameterGroup group, String name) {
        Parameter p = byName.get(key(group, name));
        if (p == null) throw new IllegalArgumentException("no parameter " + key(group, name));
        return p;
    }

    /** A parameter of the denoiser ({@code model.pt}). */
    public Parameter model(String name) {
        return get(ParameterGroup.MODEL, name);
    }

    public List<Parameter> all() {
        return List.copyOf(byName.values());
    }

    public void zeroGrads() {
        for (Parameter p : byName.values()) backend.fill(p.grad(), 0f);
    }

    /** Host copies of every value, in order (for EMA, decay-to-init and bit-exact comparisons). */
    public List<float[]> snapshotValues() {
        return byName.values().stream().map(p -> backend.download(p.value())).toList();
    }

    public long parameterCount() {
        return byName.values().stream().mapToLong(p -> p.value().numel()).sum();
    }
}

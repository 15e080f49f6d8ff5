package plaid.bench;

import java.util.List;
import plaid.backend.ComputeBackend;
import plaid.backend.Segments;
import plaid.backend.Tensor;
import plaid.backend.cuda.CudaBackend;
import plaid.backend.cuda.GemmPrecision;

/**
 * The 1B step's largest GEMMs and one block's attention forward and backward, alone, as TFLOP/s.
 */
final class OperationsBenchmark extends GpuMeasurements {

    OperationsBenchmark(CudaBackend gpu, List<Row> rows) {
        super(gpu, rows);
    }

    /**
     * The 1B step's largest GEMMs (per block: qkv, fc1 and fc2; the output head) in the bf16 mode
     * with bf16 operand copies (conversions included) and with the fp32 matrices cuBLAS rounds on
     * the fly, as TFLOP/s; and one block's attention forward and backward, fp32 tiled against tensor cores.
     */
    void operations() {
        releaseGarbage();
        CudaBackend gpu = in(GemmPrecision.BF16);
        int tokens = 8 * 1024, d = 2048, v = 32768;
        record Shape(String name, int m, int n, int k, ComputeBackend.Epilogue epilogue) {}
        List<Shape> shapes = List.of(
                new Shape("qkv", tokens, 3 * d, d, ComputeBackend.Epilogue.NONE),
                new Shape("mlp fc1 + GELU", tokens, 4 * d, d, ComputeBackend.Epilogue.GELU),
                new Shape("mlp fc2", tokens, d, 4 * d, ComputeBackend.Epilogue.NONE),
                new Shape("output head + bias", tokens, v, d, ComputeBackend.Epilogue.BIAS));
        for (Shape shape : shapes) {
            guarded("gemm " + shape.name(), () -> {
                Tensor a = gpu.allocate(shape.m(), shape.k()),
                        b = gpu.allocate(shape.n(), shape.k()),
                        c = gpu.allocate(shape.m(), shape.n());
                Tensor bias = gpu.allocate(shape.n()),
                        pre =
                                shape.epilogue() == ComputeBackend.Epilogue.GELU
                                        ? gpu.allocate(shape.m(), shape.n())
                                        : null;
                gpu.fill(a, 0.01f);
                gpu.fill(b, 0.02f);
                double flops = 2.0 * shape.m() * shape.n() * shape.k();
                for (boolean copies : new boolean[] {true, false}) {
                    CudaBackend face = gpu.withOptions(gpu.options().withBf16Operands(copies));
                    double millis = millisPerCall(
                            () -> face.gemm(false, true, 1f, a, b, 0f, c, shape.epilogue(), bias, pre), 10);
                    rows.add(new Row(
                            "gemm " + shape.name() + ", " + shape.m() + " × " + shape.n() + " × " + shape.k(),
                            copies ? "bf16, bf16 operands" : "bf16, fp32 operands",
                            flops / millis / 1e9,
                            DENSE_BF16_PEAK_TFLOPS,
                            "TFLOP/s"));
                }
            });
        }
        guarded("attention", () -> {
            int rowsOfSamples = 8, seqLen = 1024, heads = 32, headDim = 64;
            Tensor qkv = gpu.allocate(rowsOfSamples, seqLen, 3, heads, headDim),
                    out = gpu.allocate(rowsOfSamples, seqLen, heads, headDim);
            Tensor lse = gpu.allocate(rowsOfSamples, heads, seqLen);
            gpu.fill(qkv, 0.01f);
            Segments segments = Segments.whole(rowsOfSamples, seqLen);
            double flops = 4.0 * rowsOfSamples * heads * seqLen * seqLen * headDim;
            for (String variant : List.of(
                    "bf16, tensor cores, async tiles", "bf16, tensor cores, tiles converted on load", "fp32 tiled")) {
                CudaBackend face = gpu.withOptions(gpu.options()
                        .withFlashAttention(!variant.startsWith("fp32"))
                        .withFlashAttentionFromBf16Copy(variant.contains("async")));
                addMillisAndRate(
                        "attention forward, one 1B block, 8 × 1024, 32 heads of 64",
                        variant,
                        millisPerCall(() -> face.attention(qkv, heads, segments, out, lse), 20),
                        flops);
            }
            // the backward from the forward's outputs; flops: the convention's 2.5 forwards (5 of its products)
            Tensor dOut = gpu.allocate(rowsOfSamples, seqLen, heads, headDim),
                    dqkv = gpu.allocate(rowsOfSamples, seqLen, 3, heads, headDim);
            gpu.fill(dOut, 0.01f);
            gpu.attention(qkv, heads, segments, out, lse);
            for (String variant : List.of("bf16, tensor cores", "fp32 tiled")) {
                CudaBackend face = gpu.withOptions(gpu.options().withFlashAttention(!variant.startsWith("fp32")));
                Runnable backward = () -> face.attentionBackward(dOut, qkv, out, lse, heads, segments, dqkv);
                addMillisAndRate(
                        "attention backward, one 1B block, 8 × 1024, 32 heads of 64",
                        variant,
                        millisPerCall(backward, 20),
                        2.5 * flops);
                if (!variant.startsWith("fp32"))
                    printProfile("10 attention backwards, one 1B block, " + variant, () -> {
                        for (int i = 0; i < 10; i++) backward.run();
                    });
            }
        });
    }
}

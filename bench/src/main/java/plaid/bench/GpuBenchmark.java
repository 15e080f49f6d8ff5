package plaid.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import plaid.backend.cuda.CudaBackend;
import plaid.backend.cuda.GemmPrecision;

/**
 * Our figures beside the original's on one H200 (docs/benchmarks-gpu.md, anchors.md): sampling
 * ms/step unguided and prefix-guided for the 1B and the small shape, the small model's training
 * step at batch 256 with its peak device memory, and where a training step's time goes, per op.
 * Random weights and tokens (speed does not depend on their values), on the CUDA backend, once
 * per GEMM precision in {@code -Dplaid.bench.precisions} (default fp32,bf16).
 * In the bf16 mode also: sampling with its bf16 operand copies and tensor-core attention switched
 * off (what each buys; {@code -Dplaid.bench.noAblations=true} skips them in the sampler's figures),
 * the sampling step measured directly (the denoiser's call and the sampler's transfers, without
 * its setup and final argmax), {@code -Dplaid.bench.noGuided=true} skips guided sampling, a per-op profile of one
 * sampling call per shape ({@code -Dplaid.bench.noProfiles=true} skips them), and the 1B step's
 * largest GEMMs and attention forward alone, as TFLOP/s.
 * Run by gpu/bench.sh; {@code -Dplaid.bench.only=sampling|training|operations} runs one part.
 * Each option set is its own backend, a face of one device ({@link CudaBackend#withOptions}), and
 * a model measured under several gets its weights copied onto each.
 *
 * <p>The parts: {@link OperationsBenchmark}, {@link SamplingBenchmark} and {@link TrainingBenchmark},
 * each measuring with {@link GpuMeasurements}, which also prints the table.
 */
public final class GpuBenchmark {
    private GpuBenchmark() {}

    public static void main(String[] args) {
        String only = System.getProperty("plaid.bench.only", "all");
        List<GemmPrecision> precisions = new ArrayList<>();
        for (String name :
                System.getProperty("plaid.bench.precisions", "fp32,bf16").split(",")) {
            precisions.add(GemmPrecision.valueOf(name.trim().toUpperCase(Locale.ROOT)));
        }
        try (CudaBackend gpu = new CudaBackend()) {
            List<GpuMeasurements.Row> rows = new ArrayList<>();
            if (only.equals("all") || only.equals("operations")) new OperationsBenchmark(gpu, rows).operations();
            if (!only.equals("training") && !only.equals("operations")) {
                SamplingBenchmark sampling = new SamplingBenchmark(gpu, rows);
                sampling.sampling("1B", GpuMeasurements.config(2048, 24, 32), 1024, 1024, 51.4, 134.5, precisions);
                sampling.sampling("small", GpuMeasurements.config(384, 16, 6), 1024, 256, 18.0, 46.2, precisions);
                sampling.forgetCopies(); // the last model's host copy, before training measures its peak
            }
            if (!only.equals("sampling") && !only.equals("operations"))
                new TrainingBenchmark(gpu, rows).training(precisions);
            GpuMeasurements.printTable(rows);
        }
    }
}

package plaid.bench;

import java.util.List;
import plaid.backend.cuda.CudaBackend;
import plaid.backend.cuda.CudaOptions;
import plaid.backend.cuda.GemmPrecision;
import plaid.backend.cuda.OpTiming;
import plaid.options.PlaidConfig;

/**
 * What every part of {@link GpuBenchmark} measures with: the device (faces of one CUDA backend
 * with other options), the table's rows, wall-clock timing that waits for the device, per-op
 * profiles, and the table itself. A failing measurement is logged and the others go on.
 */
abstract class GpuMeasurements {
    /** One line of the table: our figure, the original's on the same kind of card, and the unit. */
    record Row(String work, String mode, double ours, double original, String unit) {}

    private static final int PROFILE_ROWS = 25;
    /** The card's dense bf16 matrix-product rate (anchors.md), what the TFLOP/s rows stand beside. */
    static final double DENSE_BF16_PEAK_TFLOPS = 790;

    /** The backend of the -Dplaid.cuda.* options; the measurements use faces of it with other options. */
    final CudaBackend gpu;

    /** The table's rows, shared by the parts. */
    final List<Row> rows;

    GpuMeasurements(CudaBackend gpu, List<Row> rows) {
        this.gpu = gpu;
        this.rows = rows;
    }

    /** The face of the device with these options. */
    CudaBackend with(java.util.function.UnaryOperator<CudaOptions> change) {
        return gpu.withOptions(change.apply(gpu.options()));
    }

    CudaBackend in(GemmPrecision precision) {
        return with(o -> o.withPrecision(precision));
    }

    /** Wall-clock milliseconds of work that ends by reading a result back (which waits for the device). */
    double timeMillis(Runnable work) {
        gpu.synchronize();
        long start = System.nanoTime();
        work.run();
        gpu.synchronize();
        return (System.nanoTime() - start) / 1e6;
    }

    /** Mean time of one call of {@code op} over {@code calls}, after three (cuBLASLt's heuristic query, first launches, the clocks). */
    double millisPerCall(Runnable op, int calls) {
        for (int i = 0; i < 3; i++) op.run();
        return timeMillis(() -> {
                    for (int i = 0; i < calls; i++) op.run();
                })
                / calls;
    }

    /** Two rows for one timed operation: its time, and its rate beside the card's dense bf16 peak. */
    void addMillisAndRate(String work, String mode, double millis, double flops) {
        rows.add(new Row(work, mode, millis, Double.NaN, "ms"));
        rows.add(new Row(work, mode, flops / millis / 1e9, DENSE_BF16_PEAK_TFLOPS, "TFLOP/s"));
    }

    /** Runs one measurement; a failure (out of device memory, say) is reported and the others go on. */
    static void guarded(String what, Runnable measurement) {
        log("measuring %s", what);
        try {
            measurement.run();
        } catch (RuntimeException e) {
            log("FAILED %s: %s", what, e);
        }
    }

    /** Tensors free their device memory only once collected: collect between phases so that peaks and allocations do not stack up. */
    static void releaseGarbage() {
        System.gc();
        try {
            Thread.sleep(200); // the Cleaner frees on its own thread
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    void printProfile(String what, Runnable work) {
        double unprofiled = timeMillis(work);
        gpu.resetOpProfile();
        gpu.profileOps(true);
        double profiled;
        try {
            profiled = timeMillis(work);
        } finally {
            gpu.profileOps(false);
        }
        List<OpTiming> ops = gpu.opProfile();
        double total = ops.stream().mapToDouble(OpTiming::milliseconds).sum();
        System.out.printf(
                "%nper-op time, %s: %.1f ms unprofiled, %.1f ms profiled (each op synchronised), ops %.1f ms, host between ops %.1f ms%n",
                what, unprofiled, profiled, total, profiled - total);
        System.out.printf("%-40s %8s %10s %7s%n", "op", "calls", "ms", "share");
        for (OpTiming op : ops.subList(0, Math.min(PROFILE_ROWS, ops.size()))) {
            System.out.printf(
                    "%-40s %8d %10.2f %6.1f%%%n",
                    op.op(), op.calls(), op.milliseconds(), 100 * op.milliseconds() / total);
        }
        System.out.flush();
    }

    static void log(String format, Object... args) {
        System.out.printf("[bench] " + format + "%n", args);
        System.out.flush();
    }

    static PlaidConfig config(int dim, int blocks, int heads) {
        PlaidConfig c = PlaidConfig.defaults();
        c.dim = dim;
        c.nBlocks = blocks;
        c.nHeads = heads;
        return c.validate();
    }

    static void printTable(List<Row> rows) {
        System.out.printf("%n| work | mode | ours | original | unit | ours ÷ original |%n|---|---|---|---|---|---|%n");
        for (Row r : rows) {
            if (Double.isNaN(r.original())) {
                System.out.printf("| %s | %s | %.1f | — | %s | — |%n", r.work(), r.mode(), r.ours(), r.unit());
            } else {
                System.out.printf(
                        "| %s | %s | %.1f | %.1f | %s | %.2f |%n",
                        r.work(), r.mode(), r.ours(), r.original(), r.unit(), r.ours() / r.original());
            }
        }
        System.out.println(
                "\n(for ms and GiB below 1 is better; for tokens/s above 1 is better; TFLOP/s rows: the original column is the card's dense bf16 peak)");
    }
}

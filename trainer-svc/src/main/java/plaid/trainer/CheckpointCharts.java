package plaid.trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SortedMap;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;
import plaid.model.NoiseSchedule;
import plaid.model.PlaidParameters;

/** The PNG plots written beside each checkpoint: the learned γ(t) and the loss curve so far. */
final class CheckpointCharts {
    static final String NOISE_SCHEDULE = "noise_schedule.png";
    static final String LOSS_CURVE = "loss_curve.png";
    private static final int WIDTH = 800, HEIGHT = 500, SCHEDULE_POINTS = 201;

    private CheckpointCharts() {}

    /** Draws both plots into {@code checkpointDir}. */
    static void write(Path checkpointDir, PlaidParameters params, SortedMap<Integer, Double> lossByStep, int step)
            throws IOException {
        Files.write(checkpointDir.resolve(NOISE_SCHEDULE), png(noiseSchedule(params, step)));
        Files.write(checkpointDir.resolve(LOSS_CURVE), png(lossCurve(lossByStep, step)));
    }

    private static XYChart noiseSchedule(PlaidParameters params, int step) {
        NoiseSchedule schedule = params.noiseSchedule();
        double[] bounds = params.gammaBounds();
        double[] t = new double[SCHEDULE_POINTS], gamma = new double[SCHEDULE_POINTS];
        for (int i = 0; i < SCHEDULE_POINTS; i++) {
            t[i] = i / (SCHEDULE_POINTS - 1.0);
            gamma[i] = bounds[0] + (bounds[1] - bounds[0]) * schedule.gammaTilde(t[i]);
        }
        XYChart chart = chart("Noise schedule after step " + step, "t", "γ(t)");
        chart.addSeries("γ(t)", t, gamma).setMarker(SeriesMarkers.NONE);
        return chart;
    }

    private static XYChart lossCurve(SortedMap<Integer, Double> lossByStep, int step) {
        XYChart chart = chart("Training loss up to step " + step, "step", "loss");
        if (!lossByStep.isEmpty())
            chart.addSeries(
                            "loss",
                            lossByStep.keySet().stream()
                                    .mapToDouble(Integer::doubleValue)
                                    .toArray(),
                            lossByStep.values().stream()
                                    .mapToDouble(Double::doubleValue)
                                    .toArray())
                    .setMarker(SeriesMarkers.NONE);
        return chart;
    }

    private static XYChart chart(String title, String x, String y) {
        XYChart chart = new XYChartBuilder()
                .width(WIDTH)
                .height(HEIGHT)
                .title(title)
                .xAxisTitle(x)
                .yAxisTitle(y)
                .build();
        chart.getStyler().setLegendVisible(false);
        return chart;
    }

    private static byte[] png(XYChart chart) throws IOException {
        return BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
    }
}

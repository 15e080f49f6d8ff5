package plaid.service;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The services' tests' view of {@code /q/metrics}: a meter's value as Prometheus serves it. */
public final class PrometheusScrape {
    private PrometheusScrape() {}

    /** The text at {@code server}'s {@code /q/metrics}; fails unless it answers 200. */
    public static String metrics(URI server) throws IOException, InterruptedException {
        HttpResponse<String> response = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(server.resolve("/q/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) throw new AssertionError("/q/metrics answered " + response.statusCode());
        return response.body();
    }

    /** The value of the untagged series {@code name} in {@code metrics}; fails when absent. */
    public static double value(String metrics, String name) {
        Matcher line =
                Pattern.compile("(?m)^" + Pattern.quote(name) + " (\\S+)$").matcher(metrics);
        if (!line.find()) throw new AssertionError("no series " + name + " in /q/metrics");
        return Double.parseDouble(line.group(1));
    }
}

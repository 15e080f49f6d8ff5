package plaid.trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.luben.zstd.ZstdOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import plaid.text.BpeTrainer;
import plaid.text.CorpusDirectory;
import plaid.text.Owt2Preparer;

/**
 * An OWT2-format corpus as data-svc's PrepareDataset makes it (generated release archives run
 * through {@link Owt2Preparer}, a 300-id tokenizer trained on its train documents, the manifest
 * last), under a corpus root, for jobs that name it.
 */
final class Owt2TestCorpus {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Owt2TestCorpus() {}

    /** Writes {@code corpora/<name>} under {@code corpusRoot} unless it is there. */
    static synchronized void write(Path corpusRoot, String name) throws IOException {
        if (CorpusDirectory.state(corpusRoot, name) == CorpusDirectory.State.READY) return;
        Path raw = Files.createDirectories(corpusRoot.resolve("raw-" + name));
        writeArchive(raw.resolve("2020-01.jsonl.zst"), 0, 40);
        writeArchive(raw.resolve("2020-02.jsonl.zst"), 40, 40);
        Path building = CorpusDirectory.buildingFolder(corpusRoot, name);
        Owt2Preparer.Report report = Owt2Preparer.prepare(raw, building, new Owt2Preparer.Options(0, 8, 2));
        List<String> documents = new ArrayList<>();
        for (int shard = 0; shard < 2; shard++)
            for (String line : Files.readAllLines(CorpusDirectory.trainFile(building, shard)))
                documents.add(JSON.readValue(line, String.class));
        Path tokenizer = building.resolve(CorpusDirectory.TOKENIZER_FILE);
        new BpeTrainer(300, List.of(TrainingCorpus.END_OF_TEXT), 2)
                .train(documents.stream())
                .save(tokenizer);
        CorpusDirectory.seal(
                building,
                tokenizer,
                new CorpusDirectory.Manifest("owt2", 2, report.trainDocuments(), report.validationDocuments()));
        Files.move(building, CorpusDirectory.folder(corpusRoot, name));
    }

    /** OWT2 release lines: English documents as paragraph lists, one German document, one line without meta. */
    private static void writeArchive(Path archive, int first, int count) throws IOException {
        String[] topics = {"rivers and boats", "a small bakery", "the stock market", "mountain weather", "old maps"};
        StringBuilder lines = new StringBuilder();
        for (int d = first; d < first + count; d++)
            lines.append("{\"meta\":{\"lang\":\"en\"},\"text\":[\"Story ")
                    .append(d)
                    .append(" is about ")
                    .append(topics[d % topics.length])
                    .append(".\",\"It goes on about ")
                    .append(topics[(d * 3 + 1) % topics.length])
                    .append(" for a while.\"]}\n");
        lines.append("{\"meta\":{\"lang\":\"de\"},\"text\":\"Eine Geschichte.\"}\n");
        lines.append("{\"text\":\"no meta\"}\n");
        try (OutputStream out = new ZstdOutputStream(Files.newOutputStream(archive))) {
            out.write(lines.toString().getBytes(StandardCharsets.UTF_8));
        }
    }
}

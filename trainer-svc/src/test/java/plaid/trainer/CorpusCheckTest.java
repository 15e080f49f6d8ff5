package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import plaid.v1.SubmitJobRequest;

/** SubmitJob reads a corpus file before accepting the job: a bad line is refused naming spec.corpus, the file and the line. */
@QuarkusTest
@TestProfile(TrainerServiceTestProfile.class)
class CorpusCheckTest extends LoopbackTrainerTest {

    @Inject
    RunRoot root;

    @Test
    void badCorpusLinesAreRefusedAtSubmission() throws IOException {
        Path corpora = Files.createDirectories(root.path().resolve("bad-corpora"));
        List<String> lines = new ArrayList<>();
        for (int i = 1; i <= 20; i++) lines.add("{\"text\": \"document " + i + "\"}");
        Files.write(corpora.resolve("cut.jsonl"), concat(lines, "{\"text\": \"cut"));
        Files.write(corpora.resolve("number.jsonl"), concat(lines, "{\"text\": 5}"));
        Files.write(corpora.resolve("untitled.jsonl"), concat(lines, "{\"title\": \"no text\"}"));
        Files.write(corpora.resolve("latin1.txt"), new byte[] {'o', 'k', '\n', '\n', 'c', 'a', 'f', (byte) 0xE9, '\n'});
        Files.writeString(corpora.resolve("one.txt"), "only one document\n");

        assertRefused("bad-corpora/cut.jsonl", "spec.corpus bad-corpora/cut.jsonl line 21 is not JSON: ");
        assertRefused(
                "bad-corpora/number.jsonl",
                "spec.corpus bad-corpora/number.jsonl line 21 has a \"text\" that is a number");
        assertRefused(
                "bad-corpora/untitled.jsonl", "spec.corpus bad-corpora/untitled.jsonl line 21 has no \"text\" field");
        assertRefused(
                "bad-corpora/latin1.txt",
                "spec.corpus bad-corpora/latin1.txt line 3 has invalid UTF-8 at byte offset 7 of the file");
        assertRefused("bad-corpora/one.txt", "spec.corpus bad-corpora/one.txt has 1 documents; 2 are needed");
    }

    private void assertRefused(String corpus, String descriptionStart) {
        StatusRuntimeException refusal = assertThrows(
                StatusRuntimeException.class,
                () -> trainer.submitJob(SubmitJobRequest.newBuilder()
                        .setSpec(JobPersistenceTests.tinySpec(5).toBuilder().setCorpus(corpus))
                        .build()));
        assertThat(refusal.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(refusal.getStatus().getDescription()).startsWith(descriptionStart);
    }

    private static List<String> concat(List<String> lines, String last) {
        List<String> all = new ArrayList<>(lines);
        all.add(last);
        return all;
    }
}

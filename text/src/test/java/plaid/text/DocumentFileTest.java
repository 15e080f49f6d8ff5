package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Corpus files: every kind of bad line is refused with the file and the line, never read as an empty document. */
class DocumentFileTest {
    @Test
    void readsJsonStringsObjectsAndParagraphListsSkippingBlankLines(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("c.jsonl");
        Files.writeString(
                file, "\"one\"\n{\"text\": \"two\", \"meta\": 1}\r\n\n   \n{\"text\": [\"p1\", \"p2\"]}\n\"ü 😀\"");
        assertThat(DocumentFile.read(file, "c.jsonl")).containsExactly("one", "two", "p1\n\np2", "ü 😀");
    }

    @Test
    void plainTextDocumentsAreSeparatedByBlankLines(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("c.txt");
        Files.writeString(file, "  first doc\nstill first\n\n \nsecond\r\n\r\nthird  \n");
        assertThat(DocumentFile.read(file, "c.txt")).containsExactly("first doc\nstill first", "second", "third");
    }

    @Test
    void aBadJsonLineIsNamedByItsOwnLineNumber(@TempDir Path dir) throws IOException {
        List<String> lines = new ArrayList<>();
        for (int i = 1; i <= 20; i++) lines.add("\"document " + i + "\"");
        lines.add("{\"text\": \"cut off");
        Path file = dir.resolve("c.jsonl");
        Files.write(file, lines);
        assertThatThrownBy(() -> DocumentFile.read(file, "corpora/c.jsonl"))
                .isInstanceOf(DocumentFile.BadDocumentException.class)
                .hasMessageStartingWith("corpora/c.jsonl line 21 is not JSON: ");
        Files.writeString(file, "\"a\"\n\"b\" trailing\n");
        assertThatThrownBy(() -> DocumentFile.read(file, "c.jsonl"))
                .hasMessageStartingWith("c.jsonl line 2 is not JSON");
    }

    @Test
    void linesThatAreNotTextAreRefused(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("c.jsonl");
        assertRefused(file, "{\"text\": 5}", "c.jsonl line 2 has a \"text\" that is a number, not a string");
        assertRefused(file, "{\"title\": \"x\"}", "c.jsonl line 2 has no \"text\" field");
        assertRefused(
                file, "[\"x\"]", "c.jsonl line 2 is a JSON array, not a string or an object with a \"text\" string");
        assertRefused(file, "null", "c.jsonl line 2 is a JSON null, not a string or an object with a \"text\" string");
        assertRefused(
                file,
                "{\"text\": [\"p\", 3]}",
                "c.jsonl line 2 has a \"text\" list holding a number, not only strings");
    }

    @Test
    void invalidUtf8IsRefusedWithLineAndByteOffset(@TempDir Path dir) throws IOException {
        Path jsonl = dir.resolve("c.jsonl");
        Files.write(jsonl, bytes("\"ok\"\n\"bad ", new byte[] {(byte) 0xC3, '"', '\n'}));
        assertThatThrownBy(() -> DocumentFile.read(jsonl, "c.jsonl"))
                .isInstanceOf(DocumentFile.BadDocumentException.class)
                .hasMessage("c.jsonl line 2 has invalid UTF-8 at byte offset 10 of the file");
        Path text = dir.resolve("c.txt");
        Files.write(text, bytes("fine\n\nline three ", new byte[] {(byte) 0xFF}));
        assertThatThrownBy(() -> DocumentFile.read(text, "c.txt"))
                .isInstanceOf(DocumentFile.BadDocumentException.class)
                .hasMessage("c.txt line 3 has invalid UTF-8 at byte offset 17 of the file");
    }

    private static void assertRefused(Path file, String secondLine, String message) throws IOException {
        Files.writeString(file, "\"first\"\n" + secondLine + "\n\"third\"\n");
        assertThatThrownBy(() -> DocumentFile.read(file, "c.jsonl"))
                .isInstanceOf(DocumentFile.BadDocumentException.class)
                .hasMessage(message);
    }

    private static byte[] bytes(String prefix, byte[] rest) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(prefix.getBytes(StandardCharsets.UTF_8));
        out.writeBytes(rest);
        return out.toByteArray();
    }
}

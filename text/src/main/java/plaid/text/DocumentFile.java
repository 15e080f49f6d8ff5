package plaid.text;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The documents of a corpus file. A {@code .jsonl} file holds one document per line: a
 * JSON string, or an object whose {@code text} is a string or a list of paragraph strings
 * (joined by a blank line, as OWT2's); blank lines are skipped. Any other file is UTF-8
 * text whose documents are separated by blank lines.
 *
 * <p>Bad input is refused with a {@link BadDocumentException} naming the file, the line and,
 * for invalid UTF-8, the byte offset: never read as an empty document or skipped silently.
 */
public final class DocumentFile {
    /** Longest line of a {@code .jsonl} file; a corpus line longer than this is refused unread. */
    public static final int MAX_LINE_BYTES = 64 << 20;

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /** A corpus file that is not what {@link DocumentFile} reads; the message says where. */
    public static final class BadDocumentException extends IOException {
        BadDocumentException(String message) {
            super(message);
        }
    }

    private DocumentFile() {}

    /** Every document of {@code file}; {@code name} is how messages call the file (a path the user knows). */
    public static List<String> read(Path file, String name) throws IOException {
        List<String> documents = new ArrayList<>();
        forEach(file, name, documents::add);
        return documents;
    }

    /** Gives each document of {@code file} to {@code sink} in order, holding one line (.jsonl) or the file (text) at a time. */
    public static void forEach(Path file, String name, Consumer<String> sink) throws IOException {
        if (file.getFileName().toString().endsWith(".jsonl")) forEachJsonLine(file, name, sink);
        else for (String document : plainTextDocuments(file, name)) sink.accept(document);
    }

    private static void forEachJsonLine(Path file, String name, Consumer<String> sink) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            BoundedLines lines = new BoundedLines(in, MAX_LINE_BYTES);
            long lineNumber = 0, lineStart = 0;
            BoundedLines.Line line;
            while ((line = lines.next()) != null) {
                lineNumber++;
                switch (line) {
                    case BoundedLines.TooLong tooLong ->
                        throw bad(
                                name,
                                lineNumber,
                                "is " + tooLong.bytes() + " bytes, longer than the " + MAX_LINE_BYTES + " allowed");
                    case BoundedLines.Kept kept -> {
                        int[] badAt = new int[1];
                        String text = utf8(kept.bytes(), badAt);
                        if (text == null)
                            throw bad(
                                    name,
                                    lineNumber,
                                    "has invalid UTF-8 at byte offset " + (lineStart + badAt[0]) + " of the file");
                        if (!text.isBlank()) sink.accept(document(text, name, lineNumber));
                        lineStart += kept.bytes().length + 1;
                    }
                }
            }
        }
    }

    private static String document(String line, String name, long lineNumber) throws BadDocumentException {
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw bad(
                    name,
                    lineNumber,
                    "is not JSON: " + e.getOriginalMessage() + " (column "
                            + e.getLocation().getColumnNr() + ")");
        }
        if (node.isTextual()) return node.asText();
        if (!node.isObject())
            throw bad(
                    name, lineNumber, "is a JSON " + kind(node) + ", not a string or an object with a \"text\" string");
        JsonNode text = node.get("text");
        if (text == null) throw bad(name, lineNumber, "has no \"text\" field");
        if (text.isTextual()) return text.asText();
        if (text.isArray()) {
            List<String> paragraphs = new ArrayList<>(text.size());
            for (JsonNode paragraph : text) {
                if (!paragraph.isTextual())
                    throw bad(
                            name,
                            lineNumber,
                            "has a \"text\" list holding a " + kind(paragraph) + ", not only strings");
                paragraphs.add(paragraph.asText());
            }
            return String.join("\n\n", paragraphs);
        }
        throw bad(name, lineNumber, "has a \"text\" that is a " + kind(text) + ", not a string");
    }

    private static String kind(JsonNode node) {
        return node.getNodeType().name().toLowerCase(Locale.ROOT);
    }

    private static List<String> plainTextDocuments(Path file, String name) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        int[] badAt = new int[1];
        String text = utf8(bytes, badAt);
        if (text == null) {
            long line = 1;
            for (int i = 0; i < badAt[0]; i++) if (bytes[i] == '\n') line++;
            throw bad(name, line, "has invalid UTF-8 at byte offset " + badAt[0] + " of the file");
        }
        List<String> documents = new ArrayList<>();
        for (String document : text.split("\\R\\s*\\R")) if (!document.isBlank()) documents.add(document.strip());
        return documents;
    }

    /** Strict UTF-8: the text, or null with the index of the first bad byte in {@code badAt[0]}. */
    private static String utf8(byte[] bytes, int[] badAt) {
        CharsetDecoder decoder = StandardCharsets.UTF_8
                .newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) result = decoder.flush(out);
        if (!result.isError()) return out.flip().toString();
        badAt[0] = in.position();
        return null;
    }

    private static BadDocumentException bad(String name, long lineNumber, String problem) {
        return new BadDocumentException(name + " line " + lineNumber + " " + problem);
    }
}

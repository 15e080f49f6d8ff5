package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ZeroShotDatasetTest {
    @Test
    void ptbUndoesTokenizationAndCountsSingleSpaceFields() {
        ZeroShotDataset.EvalText eval =
                ZeroShotDataset.PTB.prepare(" the company 's N N N shares were n't <unk> \n at $ N a\\/b \n");
        assertThat(eval.text()).isEqualTo(" the company's 1 1 1 shares weren't ?\nat $1 a/b ");
        assertThat(eval.units()).isEqualTo(17); // Python: len(raw[:-1].split(" "))
        assertThat(eval.unit()).isEqualTo(ZeroShotDataset.CountUnit.WORDS);
    }

    @Test
    void wikiTextJoinsNumbersPunctuationBracketsAndHeadings() {
        String raw =
                " = = Early life = = \n The 1 @,@ 000 @-@ year ( roughly ) \" quote \" cost 3 @.@ 5 ° C , he said . \n";
        ZeroShotDataset.EvalText eval = ZeroShotDataset.WIKITEXT2.prepare(raw);
        assertThat(eval.text())
                .isEqualTo("== Early life ==\nThe 1,000-year (roughly) \"quote\" cost 3.5°C, he said.\n");
        assertThat(eval.units()).isEqualTo(raw.substring(1).split(" ", -1).length);
    }

    @Test
    void billionWordAppliesLineHeuristics() {
        String raw = "He said \" hello , world \" . \nVisit http : / / example.com ( now ) !\nIt costs $ 5 ?\n";
        ZeroShotDataset.EvalText eval = ZeroShotDataset.BILLIONWORD.prepare(raw);
        assertThat(eval.text()).isEqualTo("He said \"hello, world\" . \nVisit http://example.com (now)!\nIt costs $5?");
        assertThat(eval.units()).isEqualTo(23); // Python: len(raw[:-1].split())
    }

    @Test
    void characterSetsKeepTheLastFiveMillionCodePoints() {
        String head = "x".repeat(10);
        String tail = "😀".repeat(2_500_000) + "a".repeat(2_500_000);
        ZeroShotDataset.EvalText eval = ZeroShotDataset.ENWIK8.prepare(head + tail);
        assertThat(eval.text()).isEqualTo(tail);
        assertThat(eval.units()).isEqualTo(5_000_000);
        assertThat(eval.unit()).isEqualTo(ZeroShotDataset.CountUnit.CHARACTERS);
    }

    @Test
    void pythonWordCountUsesPythonWhitespace() {
        assertThat(ZeroShotDataset.countPythonWords("  a\u001Cb\u00A0c\t\nd  ")).isEqualTo(4);
        assertThat(ZeroShotDataset.countSingleSpaceFields(" a  b ")).isEqualTo(5);
    }

    @Test
    void readsLikePythonWithUniversalNewlinesAndStrictUtf8(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("raw.txt");
        Files.writeString(file, "a\r\nb\rc\n");
        assertThat(ZeroShotDataset.readLikePython(file)).isEqualTo("a\nb\nc\n");
        Files.write(file, new byte[] {'a', (byte) 0xC3});
        assertThatThrownBy(() -> ZeroShotDataset.readLikePython(file))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("not valid UTF-8");
    }

    @Test
    void idsAndFileNamesFollowTheOriginal() {
        assertThat(ZeroShotDataset.byId("wikitext103")).isEqualTo(ZeroShotDataset.WIKITEXT103);
        assertThat(ZeroShotDataset.PTB.rawFileName("valid")).isEqualTo("ptb.valid.txt");
        assertThat(ZeroShotDataset.WIKITEXT2.rawFileName("test")).isEqualTo("wikitext2.test.tokens");
        assertThatThrownBy(() -> ZeroShotDataset.byId("imdb"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("imdb");
    }
}

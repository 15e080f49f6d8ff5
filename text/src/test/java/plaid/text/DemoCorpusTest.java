package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class DemoCorpusTest {
    @Test
    void yieldsEnglishSpeechesOnly() {
        List<String> docs = DemoCorpus.englishDocuments(200);
        assertThat(docs).hasSize(200);
        assertThat(docs).allSatisfy(d -> assertThat(d).containsPattern("(?i)\\bthe\\b"));
        // the file interleaves all EU languages: none of their most common words lead a document here
        assertThat(docs).noneMatch(d -> d.contains(" der ") && d.contains(" und ") && d.contains(" die "));
        assertThat(docs).noneMatch(d -> d.contains(" les ") && d.contains(" est ") && d.contains(" des "));
    }

    @Test
    void recognisesEnglishAndRejectsOtherLanguages() {
        assertThat(
                        DemoCorpus.isEnglish(
                                "We believe that the Commission is right to propose this directive, and it is for the Council to act on the report of the committee now."))
                .isTrue();
        assertThat(
                        DemoCorpus.isEnglish(
                                "Wir glauben, dass die Kommission richtig handelt, wenn sie diese Richtlinie vorschlägt, und es ist Sache des Rates, nun auf den Bericht zu reagieren."))
                .isFalse();
    }
}

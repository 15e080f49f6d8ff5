package plaid.text;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ByteLevelPreTokenizerTest {
    private final ByteLevelPreTokenizer gpt2 = new ByteLevelPreTokenizer(false, true);

    @Test
    void splitsWordsNumbersPunctuationAndContractions() {
        assertThat(gpt2.split("Hello world's 42 times!? ok"))
                .containsExactly("Hello", " world", "'s", " 42", " times", "!?", " ok");
    }

    @Test
    void whitespaceRunLeavesItsLastSpaceToTheNextWord() {
        assertThat(gpt2.split("a   b\n\n c  ")).containsExactly("a", "  ", " b", "\n\n", " c", "  ");
    }

    @Test
    void unicodeWhitespaceAndLettersFollowUnicodeProperties() {
        // U+00A0 and U+3000 are White_Space (Oniguruma's \s); é and 日 are letters; ² is a number.
        assertThat(gpt2.split("é\u00A0日本\u3000x²")).containsExactly("é", "\u00A0", "日本", "\u3000", "x", "²");
    }

    @Test
    void prefixSpaceAndRegexOptionsAreRespected() {
        assertThat(new ByteLevelPreTokenizer(true, true).split("hi there")).containsExactly(" hi", " there");
        assertThat(new ByteLevelPreTokenizer(true, true).split(" hi")).containsExactly(" hi");
        assertThat(new ByteLevelPreTokenizer(false, false).split("hi there")).containsExactly("hi there");
        assertThat(gpt2.split("")).isEmpty();
    }
}

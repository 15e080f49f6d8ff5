package plaid.model.bow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import plaid.fixtures.FixtureRoot;
import plaid.options.bow.DiffusionMode;
import plaid.options.bow.DiffusionMode.Word;

class DiffusionModeTest {
    /** Values of the flag as the seed's command lines write them; "[token|BoW|…]" placeholders do not match. */
    private static final Pattern MODE_FLAG = Pattern.compile("--diffusion_mode=\"?([A-Za-z0-9_]+)\"?(?=\\s|$)");

    @Test
    void everyModeOfTheSeedDocumentParses() throws IOException {
        Path readme =
                FixtureRoot.fixtures().resolve("../docs/seed-fork-readme.txt").normalize();
        Assumptions.assumeTrue(
                Files.isRegularFile(readme),
                "the seed document is not at " + readme.toAbsolutePath() + " (set -Dplaid.fixtures=<shared>/fixtures)");
        Set<String> modes = new TreeSet<>();
        Matcher m = MODE_FLAG.matcher(Files.readString(readme));
        while (m.find()) modes.add(m.group(1));
        assertThat(modes).as("--diffusion_mode values in " + readme).isNotEmpty();
        for (String mode : modes) {
            DiffusionMode parsed = DiffusionMode.parse(mode);
            assertThat(parsed.toString()).isEqualTo(mode);
            assertThat(parsed.inBowSpace()).as(mode).isTrue();
        }
    }

    @Test
    void tokenIsThePlainMode() {
        assertThat(DiffusionMode.parse("token")).isEqualTo(DiffusionMode.TOKEN);
        assertThat(DiffusionMode.TOKEN.words()).containsExactly(Word.TOKEN);
        assertThat(DiffusionMode.TOKEN.inBowSpace()).isFalse();
    }

    @Test
    void wordOrderDoesNotMatterAsInTheForksSubstringTests() {
        DiffusionMode a = DiffusionMode.parse("BoW_embedding_pred_x0_logits_direct_primary_double_logit_reg");
        DiffusionMode b = DiffusionMode.parse("double_logit_reg_logits_direct_primary_BoW_embedding_pred_x0");
        assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);
        assertThat(a.contains(Word.LOGITS_DIRECT_PRIMARY)).isTrue();
        assertThat(a.contains(Word.RECONST_FIRST)).isFalse();
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '"',
            value = {
                "BoW_embedding_reconst_frist       | 'reconst_frist'",
                "BoW                               | 'BoW'",
                "BoW_embedding_foo_bar_pred_x0_reconst_first | 'foo_bar'",
                "Token                             | 'Token'",
            })
    void unknownWordsAreRefusedByName(String mode, String named) {
        assertRefused(mode, "unknown word " + named);
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '"',
            value = {
                "\"\"                               | empty word",
                "BoW_embedding_                     | empty word",
                "BoW_embedding__reconst_first       | empty word",
            })
    void strayUnderscoresAreRefused(String mode, String problem) {
        assertRefused(mode, problem);
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '"',
            value = {
                "token_BoW_embedding                               | 'token' is the plain mode",
                "BoW_embedding_reconst_first_double_logit_reg      | exclude each other",
                "reconst_first                                     | 'reconst_first' needs BoW_embedding",
                "double_logit_reg                                  | 'double_logit_reg' needs BoW_embedding",
                "BoW_embedding_pred_x0                             | 'pred_x0' needs reconst_first or double_logit_reg",
                "BoW_embedding_double_logit_reg_diff_lm_norms      | 'diff_lm_norms' needs reconst_first",
                "BoW_embedding_reconst_first_logits_direct_primary | 'logits_direct_primary' needs double_logit_reg",
                "BoW_embedding_direct_bow_x_to_logits              | 'direct_bow_x_to_logits' needs double_logit_reg",
                "BoW_embedding_reconst_first_BoW_embedding         | 'BoW_embedding' given twice",
            })
    void contradictoryCombinationsAreRefused(String mode, String problem) {
        assertRefused(mode, problem);
    }

    @Test
    void nullIsRefused() {
        assertThatThrownBy(() -> DiffusionMode.parse(null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no mode");
    }

    /** Words are matched whole even though they contain underscores: none is mistaken for unknown pieces. */
    @ParameterizedTest
    @EnumSource(Word.class)
    void everyWordIsRecognisedOnItsOwn(Word word) {
        Throwable thrown = catchThrowable(() -> DiffusionMode.parse(word.spelling()));
        if (thrown != null)
            assertThat(thrown).hasMessageNotContaining("unknown word").hasMessageNotContaining("empty word");
    }

    private static void assertRefused(String mode, String problem) {
        Throwable thrown = catchThrowable(() -> DiffusionMode.parse(mode));
        assertThat(thrown).isInstanceOf(IllegalArgumentException.class).hasMessageContaining(problem);
        for (Word w : Word.values()) assertThat(thrown).hasMessageContaining(w.spelling());
    }
}

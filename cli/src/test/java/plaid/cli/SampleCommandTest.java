package plaid.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SampleCommandTest {
    /** A byte-level BPE model can sample any line break; each sample must still print as exactly one line. */
    @Test
    void everyLineBreakOfASampleIsShownOnOneLine() {
        String shown = SampleCommand.oneLine("a\nb\rc\r\nd");
        assertThat(shown).isEqualTo("a↵b↵c↵d");
        assertThat(shown.lines()).hasSize(1);
    }
}

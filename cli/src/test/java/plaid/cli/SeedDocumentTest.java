package plaid.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every {@code python train.py ...} and {@code python sample.py ...} line of the seed document
 * (the fork's README, {@code seed-fork-readme.txt} under -Dplaid.docs) through {@code plaid
 * train --validate-only} (the seed's flags right after {@code train}) and {@code plaid sample --validate-only}: each is accepted,
 * except the placeholder lines, which are refused naming the flag.
 */
class SeedDocumentTest {
    private static final Pattern COMMAND = Pattern.compile("python (train|sample)\\.py(.*)$");
    private static List<SeedLine> lines;

    /** One command line of the document: which script, its arguments as a shell splits them, the line number. */
    record SeedLine(String script, List<String> args, int number) {
        boolean placeholder() {
            return args.stream().anyMatch(a -> a.contains("=["));
        }

        boolean has(String arg) {
            return args.contains(arg);
        }
    }

    /** What the command said: exit code, standard output and error. */
    record Outcome(int code, String out, String err) {
        /** The name=value words of a --validate-only line. */
        Map<String, String> resolved() {
            Map<String, String> values = new HashMap<>();
            for (String word : out.strip().split(" ")) {
                int eq = word.indexOf('=');
                if (eq > 0) values.put(word.substring(0, eq), word.substring(eq + 1));
            }
            return values;
        }
    }

    @BeforeAll
    static void readTheSeedDocument() throws IOException {
        Path doc = Path.of(System.getProperty("plaid.docs", "../shared/docs")).resolve("seed-fork-readme.txt");
        if (!Files.isRegularFile(doc)) {
            String why = "no seed document at " + doc.toAbsolutePath()
                    + " (set -Dplaid.docs to the folder holding seed-fork-readme.txt)";
            if (Boolean.getBoolean("plaid.fixtures.required"))
                fail(why + "; -Dplaid.fixtures.required=true makes this an error");
            assumeTrue(false, why);
        }
        List<String> text = Files.readAllLines(doc);
        lines = new ArrayList<>();
        for (int i = 0; i < text.size(); i++) {
            Matcher m = COMMAND.matcher(text.get(i));
            if (m.find())
                lines.add(new SeedLine(m.group(1), shellWords(m.group(2).replaceFirst("\\s#.*$", "")), i + 1));
        }
    }

    @Test
    void everyCommandLineIsAcceptedExceptThePlaceholders() {
        assertThat(lines).as("the document's command lines").hasSizeGreaterThan(20);
        assertThat(lines).filteredOn(l -> l.script().equals("sample")).hasSizeGreaterThanOrEqualTo(3);
        assertThat(lines).filteredOn(SeedLine::placeholder).isNotEmpty();
        for (SeedLine line : lines) {
            Outcome outcome = validate(line);
            String where = "line " + line.number() + ": " + line.script() + ".py " + String.join(" ", line.args())
                    + "\n" + outcome;
            if (line.placeholder()) {
                assertThat(outcome.code()).as(where).isEqualTo(PlaidCommand.EXIT_USAGE);
                assertThat(outcome.err())
                        .as(where)
                        .contains("option --diffusion_mode")
                        .contains("placeholder");
            } else {
                assertThat(outcome.code()).as(where).isZero();
                assertThat(outcome.out()).as(where).startsWith("valid: ");
                assertThat(outcome.err()).as(where).isEmpty();
            }
        }
    }

    @Test
    void theDoubleLogitRegLineResolvesAsWritten() {
        Map<String, String> values = validate(line("train", "--diffusion_mode=BoW_embedding_double_logit_reg"))
                .resolved();
        assertThat(values)
                .containsEntry("reconst_secondary_weight", "0.31")
                .containsEntry("gamma_0", "-1.0")
                .containsEntry("gamma_1", "3.0")
                .containsEntry("lr_scheduler", "cosine")
                .containsEntry("BoW_cumsum_gamma", "0.0")
                .containsEntry("reconst_weight", "0.83")
                .containsEntry("weight_decay", "6.8E-5")
                .containsEntry("lr", "0.0028")
                .containsEntry("grad_accum_steps", "2")
                .containsEntry("batch_size", "128")
                .containsEntry("diffusion_mode", "BoW_embedding_double_logit_reg")
                .containsEntry(
                        "model_save_path",
                        "diffusion_hype_model_saves/BoW_embedding_double_logit_reg_lr=0.0028_embeddim=16_wd=6.8e-05_g=0_rconstw=0.83_rconst2w=0.31")
                .containsEntry(
                        "wandb_run_name",
                        "BoW_embedding_double_logit_reg_lr=0.0028_embeddim=16_wd=6.8e-05_g=0_rconstw=0.83_rconst2w=0.31");
    }

    @Test
    void otherLinesResolveAsWritten() {
        assertThat(validate(line("train", "--embed_regularizer_lambda=0.1")).resolved())
                .containsEntry("embed_regularizer_lambda", "0.1")
                .containsEntry("grad_accum_steps", "4")
                .containsEntry("batch_size", "64")
                .containsEntry("reconst_secondary_weight", "0.0")
                .doesNotContainKey("lr_scheduler");
        assertThat(validate(line("train", "--BoW_cumsum_gamma=0.5", "--hook_freq=5000"))
                        .resolved())
                .containsEntry("BoW_cumsum_gamma", "0.5")
                .containsEntry("hook_freq", "5000")
                .containsEntry("diffusion_mode", "BoW_embedding_reconst_first_no_rescale_diff_lm_norms");

        Outcome evaluation = validate(line("train", "--steps=0"));
        assertThat(evaluation.out())
                .startsWith(
                        "valid: evaluation (steps=0) of '/srv/flash2/jbjorner3/plaid-model/plaid1b_weights' on wikitext2, batch_size=1 seq_len=1024");
        assertThat(evaluation.resolved())
                .containsEntry("dim", "2048")
                .containsEntry("n_blocks", "24")
                .containsEntry("n_heads", "32");

        Outcome secondary = validate(line("sample", "--use_secondary_logits=True"));
        assertThat(secondary.out())
                .contains(
                        "loaded from 'diffusion_hype_model_saves/BoW_embedding_pred_x0_double_logit_reg_rconstw=0_g=0'")
                .contains(", unguided");
        assertThat(secondary.resolved())
                .containsEntry("use_secondary_logits", "true")
                .containsEntry("diffusion_mode", "BoW_embedding_pred_x0_double_logit_reg")
                .containsEntry("BoW_cumsum_gamma", "0.0")
                .containsEntry("seq_len", "256");
        assertThat(validate(line("sample", "--n_heads=32")).resolved())
                .containsEntry("use_secondary_logits", "false")
                .containsEntry("dim", "2048");
    }

    /** The first line of the script that has all of {@code args} (the document repeats some lines). */
    private static SeedLine line(String script, String... args) {
        List<SeedLine> found = lines.stream()
                .filter(l -> l.script().equals(script) && List.of(args).stream().allMatch(l::has))
                .toList();
        assertThat(found).as(script + ".py lines with " + List.of(args)).isNotEmpty();
        return found.getFirst();
    }

    private static Outcome validate(SeedLine line) {
        List<String> argv = new ArrayList<>(line.script().equals("train") ? List.of("train") : List.of("sample"));
        argv.addAll(line.args());
        argv.add("--validate-only");
        // Unreachable services: --validate-only must not need them.
        argv.addAll(
                line.script().equals("train")
                        ? List.of("--trainer", "127.0.0.1:1")
                        : List.of("--sampler", "127.0.0.1:1"));
        StringWriter err = new StringWriter();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream previous = System.out;
        var cl = PlaidCommand.commandLine();
        cl.setErr(new PrintWriter(err, true));
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int code = cl.execute(argv.toArray(String[]::new));
            return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(previous);
        }
    }

    /** Splits as a POSIX shell does words: whitespace separates, single and double quotes group and are removed. */
    static List<String> shellWords(String line) {
        List<String> words = new ArrayList<>();
        StringBuilder word = null;
        char quote = 0;
        for (char c : line.toCharArray()) {
            if (quote != 0) {
                if (c == quote) quote = 0;
                else word.append(c);
            } else if (c == '"' || c == '\'') {
                if (word == null) word = new StringBuilder();
                quote = c;
            } else if (Character.isWhitespace(c)) {
                if (word != null) words.add(word.toString());
                word = null;
            } else {
                if (word == null) word = new StringBuilder();
                word.append(c);
            }
        }
        if (quote != 0) throw new IllegalArgumentException("unclosed quote in: " + line);
        if (word != null) words.add(word.toString());
        return words;
    }
}

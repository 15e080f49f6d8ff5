package plaid.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import plaid.text.BpeTokenizer;

/** A long Tokenize stops within seconds once its call is cancelled, its deadline passes, or the service stops. */
class CallWatchTest {
    private static BpeTokenizer tokenizer;
    private static List<String> heavyTexts;

    @BeforeAll
    static void tokenizer() throws IOException {
        assumeTrue(
                Files.isRegularFile(DataServiceTestProfile.TOKENIZER),
                "no OWT2 tokenizer at " + DataServiceTestProfile.TOKENIZER);
        tokenizer = BpeTokenizer.load(DataServiceTestProfile.TOKENIZER);
        heavyTexts = heavyTexts(30);
    }

    @Test
    void aPassedDeadlineStopsTokenizing() {
        Context.CancellableContext context = Context.ROOT.withDeadlineAfter(300, TimeUnit.MILLISECONDS, scheduler());
        assertStopsPromptly(new CallWatch(context, () -> false), Status.Code.DEADLINE_EXCEEDED);
    }

    @Test
    void aCancelledCallStopsTokenizing() {
        Context.CancellableContext context = Context.ROOT.withCancellation();
        scheduler().schedule(() -> context.cancel(null), 300, TimeUnit.MILLISECONDS);
        assertStopsPromptly(new CallWatch(context, () -> false), Status.Code.CANCELLED);
    }

    @Test
    void shuttingDownStopsTokenizing() {
        InFlightWork inFlight = new InFlightWork();
        scheduler().schedule(inFlight::stopAll, 300, TimeUnit.MILLISECONDS);
        assertStopsPromptly(new CallWatch(Context.ROOT, inFlight::stopping), Status.Code.UNAVAILABLE);
    }

    private static void assertStopsPromptly(CallWatch watch, Status.Code expected) {
        long start = System.nanoTime();
        StatusRuntimeException stopped = assertThrows(
                StatusRuntimeException.class, () -> DataGrpcService.tokenizeAll(tokenizer, heavyTexts, watch));
        double seconds = (System.nanoTime() - start) / 1e9;
        assertThat(stopped.getStatus().getCode()).isEqualTo(expected);
        // All texts take tens of seconds; one text, the most that runs on after the stop, about one.
        assertThat(seconds).isLessThan(8);
    }

    private static ScheduledExecutorService scheduler() {
        return Executors.newSingleThreadScheduledExecutor(
                r -> Thread.ofPlatform().daemon().unstarted(r));
    }

    /** Each text is one piece the word cache does not hold: a second or more of work each on a loaded machine. */
    static List<String> heavyTexts(int count) {
        Random random = new Random(1);
        return IntStream.range(0, count)
                .mapToObj(i -> {
                    StringBuilder text = new StringBuilder(999_999);
                    while (text.length() < 999_999) text.append((char) ('a' + random.nextInt(26)));
                    return text.toString();
                })
                .toList();
    }
}

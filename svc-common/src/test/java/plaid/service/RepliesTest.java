package plaid.service;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RepliesTest {
    /** What a call's observer was told. */
    private static final class Recorder implements StreamObserver<String> {
        final List<Object> events = new ArrayList<>();

        @Override
        public void onNext(String value) {
            events.add(value);
        }

        @Override
        public void onError(Throwable t) {
            events.add(t);
        }

        @Override
        public void onCompleted() {
            events.add("completed");
        }
    }

    @Test
    void anErrorIsAnsweredInternalNotLeftToEscape() {
        Recorder unary = new Recorder();
        Replies.reply(unary, () -> {
            throw new OutOfMemoryError("Java heap space");
        });
        assertInternal(unary, "java.lang.OutOfMemoryError: Java heap space");

        Recorder streaming = new Recorder();
        Replies.start(streaming, () -> {
            throw new StackOverflowError();
        });
        assertInternal(streaming, "java.lang.StackOverflowError");
    }

    @Test
    void aRefusalKeepsItsStatusAndAnAnswerCompletes() {
        Recorder refused = new Recorder();
        Replies.reply(refused, () -> {
            throw InvalidArgument.of("field", "is bad");
        });
        assertThat(refused.events)
                .singleElement()
                .isInstanceOfSatisfying(
                        StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT));
        Recorder answered = new Recorder();
        Replies.reply(answered, () -> "yes");
        assertThat(answered.events).containsExactly("yes", "completed");
    }

    private static void assertInternal(Recorder call, String description) {
        assertThat(call.events).singleElement().isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
            assertThat(e.getStatus().getDescription()).isEqualTo(description);
        });
    }
}

package plaid.data;

import io.grpc.Context;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.jboss.logging.Logger;

/**
 * The switch that stops the service's long work (tokenizing, streaming, preparing) when it
 * shuts down, so a stop takes seconds instead of waiting for that work to end by itself.
 */
@ApplicationScoped
public class InFlightWork {
    private static final Logger LOG = Logger.getLogger(InFlightWork.class);

    private volatile boolean stopping;
    private final Set<Registration> registered = ConcurrentHashMap.newKeySet();

    void onShutdown(@Observes ShutdownEvent event) {
        stopAll();
    }

    /** From now on every watch says stop, and every waiting worker is woken to see it. */
    void stopAll() {
        stopping = true;
        LOG.infof("stopping in-flight work (%d calls)", registered.size());
        registered.forEach(Registration::wakeUp);
    }

    boolean stopping() {
        return stopping;
    }

    /** One piece of long work in flight, until closed. */
    final class Registration implements AutoCloseable {
        private final Runnable wakeUp;

        private Registration(Runnable wakeUp) {
            this.wakeUp = wakeUp;
        }

        private void wakeUp() {
            wakeUp.run();
        }

        @Override
        public void close() {
            registered.remove(this);
        }
    }

    /** Counts work as in flight and runs {@code wakeUp} at shutdown (at once if it has begun) until the registration is closed. */
    Registration register(Runnable wakeUp) {
        Registration registration = new Registration(wakeUp);
        registered.add(registration);
        if (stopping) wakeUp.run();
        return registration;
    }

    /** Calls in flight now (tokenizing, streaming). */
    int calls() {
        return registered.size();
    }

    /** A watch of the current call; make it on the call's own thread, where the call's Context is current. */
    CallWatch watchCurrentCall() {
        return new CallWatch(Context.current(), this::stopping);
    }
}

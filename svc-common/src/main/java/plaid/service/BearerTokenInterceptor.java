package plaid.service;

import grpc.health.v1.HealthGrpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.quarkus.grpc.GlobalInterceptor;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;
import org.eclipse.microprofile.config.Config;
import org.jboss.logging.Logger;

/**
 * Bearer-token authentication for every gRPC call of the service, off unless
 * {@code plaid.auth.token} (env {@code PLAID_AUTH_TOKEN}) is set: then a call without
 * {@code authorization: Bearer <token>} ends UNAUTHENTICATED before it reaches the service.
 * The health service stays open so that container and orchestrator probes need no secret;
 * it tells nothing beyond SERVING. Reflection, which maps the whole API, needs the token.
 */
@GlobalInterceptor
@ApplicationScoped
public class BearerTokenInterceptor implements ServerInterceptor {
    public static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final String SCHEME = "Bearer ";

    static final String PROPERTY = "plaid.auth.token";
    private static final Logger LOG = Logger.getLogger(BearerTokenInterceptor.class);

    /** The configured token, or empty when authentication is off. */
    private final Optional<byte[]> token;

    BearerTokenInterceptor(Config config) {
        // The raw value: MicroProfile Config reads an empty value as unset, which would turn auth off unseen.
        this.token = token(config.getConfigValue(PROPERTY).getRawValue());
    }

    /**
     * The token of a raw configured value: none when unset; a blank one is refused, since
     * {@code PLAID_AUTH_TOKEN=} or a whitespace token almost always means a secret that did not arrive.
     */
    static Optional<byte[]> token(String raw) {
        if (raw == null) return Optional.empty();
        if (raw.isBlank()) {
            throw new IllegalStateException(
                    PROPERTY + " (env PLAID_AUTH_TOKEN) is set but blank: set the token, or unset it"
                            + " to run without authentication");
        }
        return Optional.of(raw.getBytes(StandardCharsets.UTF_8));
    }

    /** Made at start (not at the first call), so that a blank token stops the service and the log says whether auth is on. */
    void announce(@Observes StartupEvent startup) {
        if (token.isPresent())
            LOG.info("gRPC authentication is on: calls other than health need 'authorization: Bearer <token>'");
        else
            LOG.warn("gRPC authentication is off: any caller that reaches the port may call; set " + PROPERTY
                    + " (env PLAID_AUTH_TOKEN) to require a bearer token");
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (token.isEmpty()
                || HealthGrpc.SERVICE_NAME.equals(call.getMethodDescriptor().getServiceName())
                || presentsTheToken(headers.get(AUTHORIZATION))) return next.startCall(call, headers);
        call.close(
                Status.UNAUTHENTICATED.withDescription(
                        "this service requires 'authorization: Bearer <token>' (plaid.auth.token)"),
                new Metadata());
        return new ServerCall.Listener<>() {};
    }

    private boolean presentsTheToken(String authorization) {
        // The scheme is case-insensitive (RFC 6750); the token is compared in constant time, so
        // that response timing does not reveal how much of a guess was right.
        return authorization != null
                && authorization.regionMatches(true, 0, SCHEME, 0, SCHEME.length())
                && MessageDigest.isEqual(
                        token.orElseThrow(),
                        authorization.substring(SCHEME.length()).getBytes(StandardCharsets.UTF_8));
    }
}

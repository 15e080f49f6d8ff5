# One image recipe for the three services: build args pick the module and its port
# (docker-compose.yml sets them). Context: the repository root, after `./mvnw install -DskipTests`
# packaged each module's target/quarkus-app (for PostgreSQL, see docker-compose.yml's header).
FROM eclipse-temurin:25-jre
ARG SERVICE
ARG PORT

# trainer-svc's checkpoint charts draw text, and the JRE image has fontconfig but no fonts.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

# The same uid in every image: sampler-svc reads trainer-svc's checkpoints from its volume.
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/plaid --no-create-home plaid \
 && mkdir -p /var/lib/plaid/state && chown -R plaid:plaid /var/lib/plaid

# Dependencies first: they change less often than the application, so rebuilds reuse their layer.
# Owned by root: the service has no reason to write its own code.
COPY ${SERVICE}/target/quarkus-app/lib/ /deployments/lib/
COPY ${SERVICE}/target/quarkus-app/*.jar /deployments/
COPY ${SERVICE}/target/quarkus-app/app/ /deployments/app/
COPY ${SERVICE}/target/quarkus-app/quarkus/ /deployments/quarkus/

# The services bind loopback by default; a container must listen on its own interface.
# MaxRAMPercentage: the service is the container's only process (the JVM's default is a quarter).
ENV PORT=${PORT} \
    QUARKUS_HTTP_HOST=0.0.0.0 \
    JAVA_OPTS="--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -XX:MaxRAMPercentage=75 -Djava.awt.headless=true"

# The service's root (docker-compose.yml points each service's root setting here). A freshly
# created named volume takes this directory's owner, so the non-root user can write it.
VOLUME /var/lib/plaid/state
USER plaid
WORKDIR /var/lib/plaid
EXPOSE ${PORT}
# gRPC health would need grpc_health_probe; Quarkus opens the port only once started, so TCP suffices.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/$PORT'
ENTRYPOINT ["sh", "-c", "exec java $JAVA_OPTS -jar /deployments/quarkus-run.jar"]

# One image recipe for the three services: build args pick the module, its port and the flavour.
# Context: the repository root, after `./mvnw package -DskipTests` made each module's
# target/quarkus-app (trainer-svc's PostgreSQL package: see docker-compose.yml's header).
#   FLAVOUR=cpu  (default) on JRE_IMAGE, eclipse-temurin:25-jre
#   FLAVOUR=gpu  on CUDA_IMAGE, NVIDIA's CUDA runtime (cuBLAS/cuBLASLt, NVRTC, NCCL), with the JRE
#                copied from JRE_IMAGE; the host needs only the driver and the NVIDIA container toolkit
# Needs BuildKit (docker compose and `docker buildx build` use it), which builds only the stages
# the flavour needs.
ARG JRE_IMAGE=eclipse-temurin:25-jre
ARG CUDA_IMAGE=nvidia/cuda:13.0.2-runtime-ubuntu24.04
ARG FLAVOUR=cpu

FROM ${JRE_IMAGE} AS cpu

FROM ${CUDA_IMAGE} AS gpu
COPY --from=cpu /opt/java/openjdk /opt/java/openjdk
ENV JAVA_HOME=/opt/java/openjdk \
    PATH=/opt/java/openjdk/bin:$PATH

FROM ${FLAVOUR}
ARG SERVICE
ARG PORT
ARG VERSION=0.1.0-SNAPSHOT
LABEL org.opencontainers.image.title="plaid ${SERVICE}" \
      org.opencontainers.image.version="${VERSION}"

# trainer-svc's checkpoint charts draw text: fontconfig and a font, where the base lacks them
# (the JRE image has fontconfig but no fonts; the CUDA image has neither).
RUN if ! fc-list 2>/dev/null | grep -qi dejavu; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fontconfig fonts-dejavu-core \
      && rm -rf /var/lib/apt/lists/*; \
    fi

# The same uid in every image: sampler-svc reads trainer-svc's checkpoints from its volume.
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/plaid --no-create-home plaid \
 && mkdir -p /var/lib/plaid/state && chown -R plaid:plaid /var/lib/plaid

# Dependencies first: they change less often than the application, so rebuilds reuse their layer.
# Owned by root: the service has no reason to write its own code. APP is the packaged app's
# folder under target/ (trainer-svc's PostgreSQL package is quarkus-app-postgresql).
ARG APP=quarkus-app
COPY ${SERVICE}/target/${APP}/lib/ /deployments/lib/
COPY ${SERVICE}/target/${APP}/*.jar /deployments/
COPY ${SERVICE}/target/${APP}/app/ /deployments/app/
COPY ${SERVICE}/target/${APP}/quarkus/ /deployments/quarkus/

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
# gRPC health (plaid.service.HealthProbe, in the service's own jars), not only an open port: a small,
# quickly started JVM. The timeout leaves room for a busy machine, where a JVM starts slowly.
HEALTHCHECK --interval=15s --timeout=30s --start-period=180s --retries=3 \
  CMD ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m", "-XX:-UsePerfData", \
       "--sun-misc-unsafe-memory-access=allow", "-cp", "/deployments/lib/main/*", "plaid.service.HealthProbe"]
ENTRYPOINT ["sh", "-c", "exec java $JAVA_OPTS -jar /deployments/quarkus-run.jar"]

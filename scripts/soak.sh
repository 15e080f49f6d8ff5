#!/usr/bin/env bash
# The hardening soak of docs/security.md (not a CI test): the packaged services on loopback,
# attacked for MINUTES (default 30) by SecuritySoak; prints a table of statuses per attack and
# the services' memory, and exits 1 on any unexpected status or restarted service.
# Usage: scripts/soak.sh [MINUTES]   (builds the services first unless PLAID_SOAK_NO_BUILD=1)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. scripts/select-jdk.sh
minutes="${1:-30}"
cp_file="$(mktemp)"
if [ -z "${PLAID_SOAK_NO_BUILD:-}" ]; then
  ./mvnw -q -B -ntp -pl data-svc,trainer-svc,sampler-svc,e2e-tests -am package -DskipTests
fi
./mvnw -q -B -ntp -pl e2e-tests -am test-compile dependency:build-classpath -Dmdep.outputFile="$cp_file" -Dmdep.includeScope=test
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -Dplaid.home="$root" -cp "$root/e2e-tests/target/test-classes:$root/cli/target/classes:$(cat "$cp_file")" \
  plaid.cli.SecuritySoak "$minutes"

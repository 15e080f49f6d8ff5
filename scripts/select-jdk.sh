# Sourced by ./mvnw, ./plaid and .ci/run: points JAVA_HOME at a JDK 25 or newer.
# The machine's default java is 17; a JDK 25 lives under /usr/lib/jvm (Temurin).
# No globbing here: mvnw runs with `set -f`.
plaid_java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }
plaid_is_jdk25() { [ -x "$1/bin/javac" ] && [ "$(plaid_java_major "$1")" -ge 25 ] 2>/dev/null; }
if ! plaid_is_jdk25 "${JAVA_HOME:-/nonexistent}"; then
  for candidate in $(find /usr/lib/jvm -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort -r); do
    if plaid_is_jdk25 "$candidate"; then export JAVA_HOME="$candidate"; break; fi
  done
fi
if ! plaid_is_jdk25 "${JAVA_HOME:-/nonexistent}"; then
  echo "plaid: no JDK 25 found; install one (e.g. Temurin 25) under /usr/lib/jvm or set JAVA_HOME" >&2
  exit 1
fi
export PATH="$JAVA_HOME/bin:$PATH"

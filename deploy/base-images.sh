#!/usr/bin/env bash
# Builds local stand-ins for the images' bases from Debian packages, for machines that reach no
# image registry (our CI). With a registry, use the real bases and skip this.
#
#   plaid-local/debian:bookworm      debootstrap --variant=minbase, with fontconfig and DejaVu fonts
#   plaid-local/temurin:25-jre       for eclipse-temurin:25-jre: a jlinked runtime of a local JDK 25
#                                    in /opt/java/openjdk, as the Temurin image lays it out
#   plaid-local/postgres:16          for postgres:16: Debian's PostgreSQL with the official image's
#                                    POSTGRES_USER/PASSWORD/DB, PGDATA and pg_isready (deploy/postgres)
#   plaid-local/cuda:13.0-runtime    for nvidia/cuda:13.0.x-runtime-ubuntu24.04: its directory layout
#                                    and environment only, no CUDA libraries (the GPU flavour's build test)
#
# usage: deploy/base-images.sh [jre|postgres|cuda ...]   (default: all three; debian comes with them)
# An image is rebuilt only when its inputs changed: each carries their hash as the label
# plaid.inputs. The debootstrap tree is kept as a tarball under $PLAID_DEPLOY_CACHE
# (default /var/cache/plaid-deploy), so a wiped Docker engine re-imports it instead of bootstrapping.
# Prints the tags it made or kept; needs root (debootstrap), docker, and a JDK 25 (JAVA_HOME or
# /usr/lib/jvm, as ./mvnw finds one).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${PLAID_DEPLOY_CACHE:-/var/cache/plaid-deploy}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
packages=ca-certificates,fontconfig,fonts-dejavu-core
DEBIAN=plaid-local/debian:bookworm
JRE=plaid-local/temurin:25-jre
POSTGRES=plaid-local/postgres:16
CUDA=plaid-local/cuda:13.0-runtime

log() { echo "base-images: $*" >&2; }
hash_of() { { for input in "$@"; do if [ -f "$input" ]; then cat "$input"; else printf '%s\n' "$input"; fi; done; } | sha256sum | cut -c1-16; }
label_of() { docker image inspect -f '{{index .Config.Labels "plaid.inputs"}}' "$1" 2>/dev/null || true; }
image_id() { docker image inspect -f '{{.Id}}' "$1"; }

debian() {
  local inputs; inputs=$(hash_of "$suite" "$packages" "$mirror")
  if [ "$(label_of "$DEBIAN")" = "$inputs" ]; then echo "$DEBIAN"; return; fi
  local tarball="$cache/debian-$suite-$inputs.tar"
  if [ ! -s "$tarball" ]; then
    log "debootstrap $suite (a few minutes)"
    mkdir -p "$cache"
    local root; root=$(mktemp -d "$cache/rootfs.XXXXXX")
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 \
      || { tail -20 "$cache/debootstrap.log" >&2; rm -rf "$root"; return 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/* "$root"/var/log/*
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  docker import --change "LABEL plaid.inputs=$inputs" --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' \
    "$tarball" "$DEBIAN" >/dev/null
  echo "$DEBIAN"
}

jdk_home() {
  (. "$here/../scripts/select-jdk.sh" >/dev/null && echo "$JAVA_HOME")
}

jre() {
  debian >/dev/null
  local jdk; jdk=$(jdk_home)
  local inputs; inputs=$(hash_of "$(image_id "$DEBIAN")" "$jdk/release" "$here/jre/Dockerfile")
  if [ "$(label_of "$JRE")" = "$inputs" ]; then echo "$JRE"; return; fi
  log "jlink a runtime of $jdk"
  local context; context=$(mktemp -d)
  # Every module a JRE has: the JDK's own, less its development tools.
  local modules; modules=$("$jdk/bin/java" --list-modules | sed 's/@.*//' \
    | grep -vE '^jdk\.(jlink|jpackage|javadoc|jshell|jdeps|compiler|jartool|jconsole|jdi|hotspot\.agent|jstatd|jcmd|editpad|internal\.(ed|jvmstat|le|opt))$' \
    | paste -sd,)
  "$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
    --generate-cds-archive --output "$context/openjdk" 2>&1 | grep -v 'incubator modules' >&2 || true
  [ -x "$context/openjdk/bin/java" ] || { log "jlink made no runtime"; return 1; }
  cp "$here/jre/Dockerfile" "$context/"
  DOCKER_BUILDKIT=0 docker build -q --build-arg BASE="$DEBIAN" --label plaid.inputs="$inputs" -t "$JRE" "$context" >/dev/null
  rm -rf "$context"
  echo "$JRE"
}

postgres() {
  debian >/dev/null
  local inputs; inputs=$(hash_of "$(image_id "$DEBIAN")" "$here/postgres/Dockerfile" "$here/postgres/entrypoint.sh")
  if [ "$(label_of "$POSTGRES")" = "$inputs" ]; then echo "$POSTGRES"; return; fi
  log "build $POSTGRES from Debian's postgresql"
  DOCKER_BUILDKIT=0 docker build -q --build-arg BASE="$DEBIAN" --label plaid.inputs="$inputs" -t "$POSTGRES" "$here/postgres" >/dev/null
  echo "$POSTGRES"
}

cuda() {
  debian >/dev/null
  local inputs; inputs=$(hash_of "$(image_id "$DEBIAN")" "$here/cuda/Dockerfile")
  if [ "$(label_of "$CUDA")" = "$inputs" ]; then echo "$CUDA"; return; fi
  log "build $CUDA (layout only)"
  DOCKER_BUILDKIT=0 docker build -q --build-arg BASE="$DEBIAN" --label plaid.inputs="$inputs" -t "$CUDA" "$here/cuda" >/dev/null
  echo "$CUDA"
}

[ $# -gt 0 ] || set -- jre postgres cuda
for image in "$@"; do
  case "$image" in
    jre|postgres|cuda) "$image" ;;
    *) log "unknown image '$image' (jre, postgres or cuda)"; exit 2 ;;
  esac
done

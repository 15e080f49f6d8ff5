#!/usr/bin/env bash
# Makes a Docker engine and Compose v2 usable on a Debian bookworm machine, as root: reuses what
# is there, installs what is not (.ci/run calls it; CI is a fresh machine without either).
#   engine:  Debian's docker.io, dockerd started in the background (no systemd), log /var/log/dockerd.log
#   compose: the docker compose plugin (2.24+, for !reset and --wait) from Debian trixie's
#            docker-compose package, which bookworm lacks: fetched with apt under a private state
#            directory, so the machine's own apt sources and pins stay as they are, and unpacked
#            into /usr/libexec/docker/cli-plugins, after checking the glibc it needs
#   debootstrap, for deploy/base-images.sh
# Exits non-zero, saying what is missing, when one of them cannot be had.
set -euo pipefail
log() { echo "docker-engine: $*" >&2; }
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  log "starting dockerd"
  setsid nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 60); do
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
    sleep 1
  done
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || { tail -20 /var/log/dockerd.log >&2; log "dockerd did not start"; exit 1; }
fi

if ! docker compose version >/dev/null 2>&1; then
  log "installing the docker compose plugin from trixie's docker-compose"
  state=$(mktemp -d)
  trap 'rm -rf "$state"' EXIT
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${DEBIAN_MIRROR:-http://deb.debian.org/debian} trixie main" > "$state/sources.list"
  apt_private=(-o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts=/nonexistent
               -o Dir::State::Lists="$state/lists" -o Dir::Cache="$state/cache" -o APT::Sandbox::User=root)
  apt-get -qq "${apt_private[@]}" update
  (cd "$state" && apt-get -qq "${apt_private[@]}" download docker-compose)
  deb=$(ls "$state"/docker-compose_*.deb)
  # The package says which glibc it needs (libc6 (>= 2.34) for 2.26); bookworm has 2.36.
  needed=$(dpkg-deb -f "$deb" Depends | sed -n 's/.*libc6 (>= \([0-9.]*\)).*/\1/p')
  have=$(dpkg-query -W -f '${Version}' libc6)
  if [ -n "$needed" ] && ! dpkg --compare-versions "$have" ge "$needed"; then
    log "trixie's docker-compose needs glibc >= $needed, this machine has $have"; exit 1
  fi
  dpkg-deb -x "$deb" "$state/root"
  install -D -m 755 "$state/root/usr/libexec/docker/cli-plugins/docker-compose" /usr/libexec/docker/cli-plugins/docker-compose
fi
log "$(docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'), $(docker compose version)"

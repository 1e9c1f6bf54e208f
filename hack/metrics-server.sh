#!/usr/bin/env bash
# Builds the pinned metrics-server from the Go module proxy into
# bin/metrics-server-v<version>/metrics-server. The end-to-end tests (test/e2e) run it
# beside the local kwok cluster (kwokctl --enable metrics-server), so kwok's simulated
# pod CPU usage reaches the kube-controller-manager's HorizontalPodAutoscaler controller.
#
# A finished build is reused. It is also kept in a per-user cache ($SORTOGRAPHER_CACHE,
# default ~/.cache/sortographer) so a fresh clone on the same machine (CI) links it
# instead of building again. Prints the binary's path on its last line.
set -euo pipefail

METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-0.9.0}

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/metrics-server-v$METRICS_SERVER_VERSION/metrics-server"
cache="${SORTOGRAPHER_CACHE:-$HOME/.cache/sortographer}/metrics-server/v$METRICS_SERVER_VERSION/metrics-server"

log() { echo "metrics-server: $*" >&2; }

if [ -x "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$(dirname "$out")"
if [ -x "$cache" ]; then
  log "linking cached metrics-server from $cache"
  ln -f "$cache" "$out" 2>/dev/null || cp "$cache" "$out"
  echo "$out"; exit 0
fi

log "building metrics-server v$METRICS_SERVER_VERSION (first time: a few minutes on 2 cores)"
# Outside the repository so its go.mod is not consulted: `go install pkg@version` uses
# metrics-server's own go.mod and go.sum, verified against the checksum database. The
# version is stamped so `metrics-server --version` reports it (kwokctl reads it).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$tmp/bin" go install -trimpath \
  -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=v$METRICS_SERVER_VERSION" \
  "sigs.k8s.io/metrics-server/cmd/metrics-server@v$METRICS_SERVER_VERSION")
mv "$tmp/bin/metrics-server" "$out"
mkdir -p "$(dirname "$cache")"
ln -f "$out" "$cache" 2>/dev/null || cp "$out" "$cache"
echo "$out"

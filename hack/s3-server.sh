#!/usr/bin/env bash
# Builds the pinned S3-compatible server that the storage tests run against (versitygw,
# with its posix backend) from the Go module proxy into bin/versitygw-<version>/.
#
# A finished build is reused. It is also kept in a per-user cache ($SORTOGRAPHER_CACHE,
# default ~/.cache/sortographer) so a fresh clone on the same machine (CI) links it
# instead of building again. Prints the binary's path on its last line.
set -euo pipefail

VERSITYGW_VERSION=${VERSITYGW_VERSION:-1.8.0}

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/versitygw-v$VERSITYGW_VERSION/versitygw"
cache="${SORTOGRAPHER_CACHE:-$HOME/.cache/sortographer}/versitygw/v$VERSITYGW_VERSION/versitygw"

log() { echo "s3-server: $*" >&2; }

if [ -x "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$(dirname "$out")"
if [ -x "$cache" ]; then
  log "linking cached versitygw from $cache"
  ln -f "$cache" "$out" 2>/dev/null || cp "$cache" "$out"
  echo "$out"; exit 0
fi

log "building versitygw v$VERSITYGW_VERSION (first time: a few minutes on 2 cores)"
# Build outside the repository so its go.mod is not consulted; `go install pkg@version`
# uses versitygw's own go.mod and go.sum, verified against the checksum database.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$tmp/bin" go install -trimpath -ldflags "-s -w -X main.Version=v$VERSITYGW_VERSION" \
  "github.com/versity/versitygw/cmd/versitygw@v$VERSITYGW_VERSION")
mv "$tmp/bin/versitygw" "$out"
mkdir -p "$(dirname "$cache")"
ln -f "$out" "$cache" 2>/dev/null || cp "$out" "$cache"
echo "$out"

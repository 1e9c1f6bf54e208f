#!/usr/bin/env bash
# cached-go-build.sh NAME PACKAGE VERSION [LDFLAGS] — builds PACKAGE@vVERSION from the Go
# module proxy into bin/NAME-vVERSION/NAME (static, trimmed) and prints that path on its
# last line. hack/s3-server.sh and hack/metrics-server.sh are its callers.
#
# A finished build is reused. It is also kept in a per-user cache ($SORTOGRAPHER_CACHE,
# default ~/.cache/sortographer) so a fresh clone on the same machine (CI) links it
# instead of building again.
set -euo pipefail
name=$1 pkg=$2 version=$3 ldflags=${4:-}

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/$name-v$version/$name"
cache="${SORTOGRAPHER_CACHE:-$HOME/.cache/sortographer}/$name/v$version/$name"

log() { echo "$name: $*" >&2; }

if [ -x "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$(dirname "$out")"
if [ -x "$cache" ]; then
  log "linking cached $name from $cache"
  ln -f "$cache" "$out" 2>/dev/null || cp "$cache" "$out"
  echo "$out"; exit 0
fi

log "building $name v$version (first time: a few minutes on 2 cores)"
# Outside the repository so its go.mod is not consulted: `go install pkg@version` uses
# the tool's own go.mod and go.sum, verified against the checksum database.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$tmp/bin" go install -trimpath \
  -ldflags "-s -w $ldflags" "$pkg@v$version")
mv "$tmp/bin/$name" "$out"
mkdir -p "$(dirname "$cache")"
ln -f "$out" "$cache" 2>/dev/null || cp "$out" "$cache"
echo "$out"

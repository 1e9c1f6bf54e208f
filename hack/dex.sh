#!/usr/bin/env bash
# Builds the pinned Dex (the OpenID provider the single sign-on tests run against) from
# the Go module proxy into bin/dex-<version>/dex and prints that path on its last line.
#
# Dex's go.mod replaces its api/v2 module with a local directory, so `go install
# github.com/dexidp/dex/cmd/dex@<version>` is refused; hack/dex/ is a wrapper module
# (go.mod and go.sum pinned here, verified against the checksum database) that requires
# Dex and builds its cmd/dex as a dependency, which ignores that replace. The version is
# the pseudo-version of the v2.45.1 tag's commit (Dex's v2.x tags lack the /v2 module
# path, so the proxy has no v2.45.1); newer master commits need an api/v2 the proxy does
# not serve. Static users with groups and emailVerified, which the tests need, are in
# this version. The first build costs about 130 s of CPU (112 s user, 20 s system, empty
# build cache, modules downloaded): 519 s wall on 2 shared, busy cores.
#
# A finished build is reused and kept in the per-user cache ($SORTOGRAPHER_CACHE, default
# ~/.cache/sortographer), like hack/cached-go-build.sh, so CI builds it once per machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(awk '$1 == "require" && $2 == "github.com/dexidp/dex" {print $3}' "$root/hack/dex/go.mod")
out="$root/bin/dex-$version/dex"
cache="${SORTOGRAPHER_CACHE:-$HOME/.cache/sortographer}/dex/$version/dex"

log() { echo "dex: $*" >&2; }

if [ -x "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$(dirname "$out")"
if [ -x "$cache" ]; then
  log "linking cached dex from $cache"
  ln -f "$cache" "$out" 2>/dev/null || cp "$cache" "$out"
  echo "$out"; exit 0
fi

log "building dex $version (first time: several minutes on 2 cores)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root/hack/dex" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath \
  -ldflags "-s -w" -o "$tmp/dex" github.com/dexidp/dex/cmd/dex)
mv "$tmp/dex" "$out"
mkdir -p "$(dirname "$cache")"
ln -f "$out" "$cache" 2>/dev/null || cp "$out" "$cache"
echo "$out"

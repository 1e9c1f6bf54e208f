# shellcheck shell=bash disable=SC2154 # binaries, cache and out come from the script that sources this one
# k8s-module.sh — sourced by hack/k8s-bin.sh and hack/node-bin.sh: builds commands of
# k8s.io/kubernetes at a pinned version from the Go module proxy.
#
#   k8s_build VERSION OUT_DIR WORK_DIR k8s.io/kubernetes/cmd/A [k8s.io/kubernetes/cmd/B ...]
#
# k8s.io/kubernetes replaces every k8s.io/<staging> module with a path inside its own
# repository; a throwaway module in WORK_DIR requires it and points each staging module at
# its published twin, v0.<minor>.<patch>, then one `go build` compiles the commands
# together. The version is stamped so the binaries report it (kwokctl and clients check).

k8s_build() {
  local version=$1 out=$2 work=$3
  shift 3
  (
    set -euo pipefail
    export CGO_ENABLED=0 GOFLAGS=-mod=mod
    mkdir -p "$work" && cd "$work"
    go mod init sortographer.local/k8sbin >/dev/null 2>&1
    go mod edit -require "k8s.io/kubernetes@v$version"
    local modfile minor m
    modfile=$(go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    minor=${version#*.}
    for m in $(grep -oE '^\s*k8s.io/[a-z0-9-]+ => \./staging' "$modfile" | awk '{print $1}'); do
      go mod edit -replace "$m=$m@v0.$minor"
    done
    {
      printf '//go:build tools\n\npackage tools\n\nimport (\n'
      for m in "$@"; do printf '\t_ "%s"\n' "$m"; done
      printf ')\n'
    } > tools.go
    go mod tidy -e >/dev/null 2>&1 || go mod tidy
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=v$version -X k8s.io/component-base/version.gitMajor=${version%%.*} -X k8s.io/component-base/version.gitMinor=${minor%%.*} -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=v$version"
    mkdir -p "$out"
    go build -trimpath -ldflags "$ld" -o "$out/" "$@"
  )
}

# A set of binaries built once per version: reused from bin/, else linked from the
# per-user cache (so a fresh clone on the same machine, CI, skips the build), else built
# by the caller, which then calls binset_save. The caller sets `binaries` (names),
# `out` (bin/… folder) and `cache` (cache folder).
#
#   binset_reuse && { echo "$out"; exit 0; }
#   ... build what is missing into $out ...
#   binset_save; echo "$out"

binset_complete() {
  local dir=$1 b
  for b in "${binaries[@]}"; do [ -x "$dir/$b" ] || return 1; done
}

binset_copy() { # binset_copy FROM TO — hard links where the file system allows
  local b
  for b in "${binaries[@]}"; do ln -f "$1/$b" "$2/$b" 2>/dev/null || cp "$1/$b" "$2/$b"; done
}

binset_reuse() {
  binset_complete "$out" && return 0
  mkdir -p "$out"
  binset_complete "$cache" || return 1
  echo "$(basename "$0" .sh): linking cached binaries from $cache" >&2
  binset_copy "$cache" "$out"
}

binset_save() {
  binset_complete "$out" || { echo "$(basename "$0" .sh): the build left out some of ${binaries[*]}" >&2; return 1; }
  mkdir -p "$cache"
  binset_copy "$out" "$cache"
}

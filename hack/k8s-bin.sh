#!/usr/bin/env bash
# Builds the pinned Kubernetes binaries that the tests and `make run` need, from the Go
# module proxy (no release downloads, no container images), into bin/k8s/<version>/.
#
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  <- k8s.io/kubernetes
#   etcd                                                              <- go.etcd.io/etcd/server/v3
#   kwok, kwokctl                                                     <- sigs.k8s.io/kwok
#
# A finished set is reused. It is also kept in a per-user cache ($SORTOGRAPHER_CACHE,
# default ~/.cache/sortographer) so a fresh clone on the same machine (CI) links it
# instead of spending ~15 minutes of CPU again. Prints the folder on its last line.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
KWOK_VERSION=${KWOK_VERSION:-0.8.0}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/k8s-module.sh
source "$root/hack/k8s-module.sh"
key="${K8S_VERSION}"
out="$root/bin/k8s/$key"
cache="${SORTOGRAPHER_CACHE:-$HOME/.cache/sortographer}/k8s/$key-etcd$ETCD_VERSION-kwok$KWOK_VERSION"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl)

log() { echo "k8s-bin: $*" >&2; }

if binset_reuse; then echo "$out"; exit 0; fi

export CGO_ENABLED=0 GOFLAGS=-mod=mod
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- Kubernetes control plane and kubectl ---------------------------------------------
if ! [ -x "$out/kube-apiserver" ] || ! [ -x "$out/kubectl" ] || ! [ -x "$out/kube-scheduler" ] || ! [ -x "$out/kube-controller-manager" ]; then
  log "building Kubernetes v$K8S_VERSION (first time: about 10-15 minutes on 2 cores)"
  k8s_build "$K8S_VERSION" "$out" "$work/k8s" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
fi

# --- etcd -----------------------------------------------------------------------------
if ! [ -x "$out/etcd" ]; then
  log "building etcd v$ETCD_VERSION"
  mkdir -p "$work/etcd" && cd "$work/etcd"
  go mod init sortographer.local/etcdbin >/dev/null 2>&1
  cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go mod edit -require "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  go mod tidy >/dev/null
  go build -trimpath -ldflags "-s -w" -o "$out/etcd" .
fi

# --- kwok -----------------------------------------------------------------------------
if ! [ -x "$out/kwok" ] || ! [ -x "$out/kwokctl" ]; then
  log "building kwok v$KWOK_VERSION"
  GOBIN="$out" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@v$KWOK_VERSION"
fi

binset_save
echo "$out"

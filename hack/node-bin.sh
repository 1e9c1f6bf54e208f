#!/usr/bin/env bash
# Builds what the local cluster's real node runs (hack/node.sh), from the Go module proxy,
# into bin/node/<key>/, and prints that folder on its last line:
#
#   kubelet, kube-proxy                          <- k8s.io/kubernetes (hack/k8s-module.sh)
#   containerd, containerd-shim-runc-v2, ctr     <- github.com/containerd/containerd/v2
#   bridge, host-local, loopback, portmap        <- github.com/containernetworking/plugins
#   coredns                                      <- github.com/coredns/coredns
#
# runc and iptables come from Debian (hack/install-deps.sh). A finished set is reused and
# kept in the per-user cache ($SORTOGRAPHER_CACHE, default ~/.cache/sortographer), so a
# fresh clone on the same machine links it in a second.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-2.4.2}
CNI_PLUGINS_VERSION=${CNI_PLUGINS_VERSION:-1.10.0}
COREDNS_VERSION=${COREDNS_VERSION:-1.14.7}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/k8s-module.sh
source "$root/hack/k8s-module.sh"
key="k8s$K8S_VERSION-containerd$CONTAINERD_VERSION-cni$CNI_PLUGINS_VERSION-coredns$COREDNS_VERSION"
out="$root/bin/node/$key"
cache="${SORTOGRAPHER_CACHE:-$HOME/.cache/sortographer}/node/$key"
binaries=(kubelet kube-proxy containerd containerd-shim-runc-v2 ctr bridge host-local loopback portmap coredns)

log() { echo "node-bin: $*" >&2; }

if binset_reuse; then echo "$out"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# go_install TAGS PKG@VERSION... — `go install` outside any module, so each tool builds
# with its own go.mod and go.sum (checked against the checksum database).
go_install() {
  local tags=$1; shift
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$out" go install -trimpath -tags "$tags" -ldflags "-s -w" "$@")
}

if ! [ -x "$out/kubelet" ] || ! [ -x "$out/kube-proxy" ]; then
  log "building kubelet and kube-proxy v$K8S_VERSION (a few minutes; less after hack/k8s-bin.sh)"
  k8s_build "$K8S_VERSION" "$out" "$work/k8s" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
fi
if ! [ -x "$out/containerd" ] || ! [ -x "$out/containerd-shim-runc-v2" ] || ! [ -x "$out/ctr" ]; then
  log "building containerd v$CONTAINERD_VERSION"
  m=github.com/containerd/containerd/v2/cmd
  go_install "no_btrfs no_devmapper no_zfs" "$m/containerd@v$CONTAINERD_VERSION" \
    "$m/containerd-shim-runc-v2@v$CONTAINERD_VERSION" "$m/ctr@v$CONTAINERD_VERSION"
fi
if ! [ -x "$out/bridge" ] || ! [ -x "$out/host-local" ] || ! [ -x "$out/loopback" ] || ! [ -x "$out/portmap" ]; then
  log "building the CNI plugins v$CNI_PLUGINS_VERSION"
  m=github.com/containernetworking/plugins/plugins
  go_install "" "$m/main/bridge@v$CNI_PLUGINS_VERSION" "$m/ipam/host-local@v$CNI_PLUGINS_VERSION" \
    "$m/main/loopback@v$CNI_PLUGINS_VERSION" "$m/meta/portmap@v$CNI_PLUGINS_VERSION"
fi
if ! [ -x "$out/coredns" ]; then
  log "building CoreDNS v$COREDNS_VERSION"
  go_install "" "github.com/coredns/coredns@v$COREDNS_VERSION"
fi

binset_save
echo "$out"

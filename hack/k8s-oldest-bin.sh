#!/usr/bin/env bash
# Builds the kube-apiserver of the oldest Kubernetes the chart supports (kubeVersion in
# charts/sortographer/Chart.yaml), from the Go module proxy, into
# bin/k8s/<version>-apiserver/ beside the pinned set's etcd and kubectl: an envtest
# control plane of that version (KUBEBUILDER_ASSETS). `make test` runs the controllers'
# envtest suite and the CRD tests on it as well as on the pinned version.
#
# Only the API server is built (the envtest suites run no controller-manager or
# scheduler): about 5 minutes of CPU the first time on 2 cores, then reused from bin/ or
# the per-user cache. Prints the folder on its last line.
set -euo pipefail

K8S_OLDEST_VERSION=${K8S_OLDEST_VERSION:-1.30.14}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/k8s-module.sh
source "$root/hack/k8s-module.sh"
pinned=$("$root/hack/k8s-bin.sh" | tail -1)
out="$root/bin/k8s/$K8S_OLDEST_VERSION-apiserver"
cache="${SORTOGRAPHER_CACHE:-$HOME/.cache/sortographer}/k8s/$K8S_OLDEST_VERSION-apiserver"
binaries=(kube-apiserver)

link_pinned() {
  local b
  for b in etcd kubectl; do ln -f "$pinned/$b" "$out/$b" 2>/dev/null || cp "$pinned/$b" "$out/$b"; done
}

if binset_reuse; then link_pinned; echo "$out"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "k8s-oldest-bin: building kube-apiserver v$K8S_OLDEST_VERSION (first time: about 5 minutes on 2 cores)" >&2
k8s_build "$K8S_OLDEST_VERSION" "$out" "$work/k8s" k8s.io/kubernetes/cmd/kube-apiserver
binset_save
link_pinned
echo "$out"

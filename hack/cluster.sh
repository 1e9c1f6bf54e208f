#!/usr/bin/env bash
# cluster.sh up|down|kubeconfig — the local cluster for `make run`, e2e tests and
# scripts: kwok (simulated nodes and pods) with the binary runtime, on the pinned binaries
# from hack/k8s-bin.sh. No Docker, no downloads.
#
#   up          start it in the background (reuse it when it already answers); the last
#               line printed is the kubeconfig's path
#   down        stop it and delete its state
#   kubeconfig  print the kubeconfig's path
#
# What it holds beyond a bare control plane:
#   - three Ready nodes, kwok-zone-{a,b,c}, labelled topology.kubernetes.io/zone=zone-{a,b,c},
#     so zone spread and PodDisruptionBudgets mean something; kwok marks every scheduled
#     pod Running and Ready (its default stages; probes are not run);
#   - a default StorageClass "standard" and hack/kwok-volumes.sh running beside the
#     cluster, which makes a PersistentVolume for every Pending claim, so managed Redis,
#     MariaDB and volume storage bind and Galleries can become Ready.
#
# State lives in $KWOK_WORKDIR (default .cache/kwok in the repository); the cluster is
# named $CLUSTER_NAME (default sortographer). Your ~/.kube/config is left alone.
# $CLUSTER_EXTRA_ARGS are added to `kwokctl create cluster` (the e2e tests add
# metrics-server with it).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
name=${CLUSTER_NAME:-sortographer}
export KWOK_WORKDIR=${KWOK_WORKDIR:-$root/.cache/kwok}
dir="$KWOK_WORKDIR/clusters/$name"
kubeconfig="$dir/kubeconfig.yaml"

log() { echo "cluster: $*" >&2; }

k8s_bin() { "$root/hack/k8s-bin.sh" | tail -n1; }

ready() { [ -f "$kubeconfig" ] && "$bin/kubectl" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; }

volumes_running() { [ -f "$dir/pids/kwok-volumes.pid" ] && kill -0 "$(cat "$dir/pids/kwok-volumes.pid")" 2>/dev/null; }

start_volumes() {
  # setsid: the provisioner outlives `make cluster` and is stopped by `down` via its pid.
  KUBECONFIG="$kubeconfig" KUBECTL="$bin/kubectl" setsid nohup "$root/hack/kwok-volumes.sh" \
    >"$dir/logs/kwok-volumes.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/kwok-volumes.pid"
}

up() {
  bin=$(k8s_bin)
  if ready; then
    log "cluster $name is already running"
    volumes_running || start_volumes
    echo "$kubeconfig"
    return
  fi
  if [ -d "$dir" ]; then
    log "removing the stale cluster $name"
    down_quiet
  fi
  local start=$SECONDS
  mkdir -p "$KWOK_WORKDIR"
  log "creating cluster $name (kwok binary runtime, Kubernetes binaries in $bin)"
  # --kubeconfig "": do not add a context to ~/.kube/config.
  "$bin/kwokctl" create cluster --name "$name" --runtime binary \
    --kubeconfig "" \
    --etcd-binary "$bin/etcd" \
    --kube-apiserver-binary "$bin/kube-apiserver" \
    --kube-controller-manager-binary "$bin/kube-controller-manager" \
    --kube-scheduler-binary "$bin/kube-scheduler" \
    --kwok-controller-binary "$bin/kwok" \
    ${CLUSTER_EXTRA_ARGS:-} \
    --wait 2m >"$KWOK_WORKDIR/create-$name.log" 2>&1 \
    || { cat "$KWOK_WORKDIR/create-$name.log" >&2; log "kwokctl create cluster failed"; exit 1; }

  local k=("$bin/kubectl" --kubeconfig "$kubeconfig")
  "${k[@]}" apply -f - >/dev/null <<EOF
$(for zone in a b c; do cat <<NODE
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-zone-$zone
  annotations:
    kwok.x-k8s.io/node: fake
    # Where metrics-server (when enabled) scrapes this node's kwok-simulated usage.
    metrics.k8s.io/resource-metrics-path: /metrics/nodes/kwok-zone-$zone/metrics/resource
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-zone-$zone
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/region: local
    topology.kubernetes.io/zone: zone-$zone
spec: {}
status:
  allocatable: {cpu: "16", memory: 64Gi, pods: "110"}
  capacity: {cpu: "16", memory: 64Gi, pods: "110"}
NODE
done)
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
# Nothing provisions for this name: hack/kwok-volumes.sh pre-binds a volume to each claim.
provisioner: sortographer.io/kwok-volumes
volumeBindingMode: Immediate
reclaimPolicy: Delete
allowVolumeExpansion: true
EOF
  start_volumes
  "${k[@]}" wait --for=condition=Ready node --all --timeout=60s >/dev/null
  # Pods need the default ServiceAccount, which kube-controller-manager creates.
  until "${k[@]}" get serviceaccount default -n default >/dev/null 2>&1; do sleep 0.5; done
  log "cluster $name is ready in $((SECONDS - start))s: 3 nodes in zones a, b, c"
  log "use it: export KUBECONFIG=$kubeconfig"
  echo "$kubeconfig"
}

down_quiet() {
  if [ -f "$dir/pids/kwok-volumes.pid" ]; then
    kill "$(cat "$dir/pids/kwok-volumes.pid")" 2>/dev/null || true
  fi
  "$bin/kwokctl" delete cluster --name "$name" >/dev/null 2>&1 || true
  rm -rf "$dir"
}

case "${1:-up}" in
  up) up ;;
  down)
    bin=$(k8s_bin)
    down_quiet
    log "cluster $name deleted"
    ;;
  kubeconfig) echo "$kubeconfig" ;;
  *) echo "usage: $0 up|down|kubeconfig" >&2; exit 2 ;;
esac

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
# With REAL_NODE=1 it also has a real node (hack/node.sh: containerd, runc, the kubelet,
# kube-proxy and CoreDNS on this machine), where pods run for real, and the simulated nodes
# are left out (KWOK_NODES=1 keeps them) so that every pod lands on the real one; kwok then
# manages only nodes annotated kwok.x-k8s.io/node=fake. Volumes are then real directories
# on that node. It needs root and cgroups; `hack/node.sh check` says what is missing.
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
real_node=${REAL_NODE:-0}
kwok_nodes=${KWOK_NODES:-$([ "$real_node" = 1 ] && echo 0 || echo 1)}

log() { echo "cluster: $*" >&2; }

k8s_bin() { "$root/hack/k8s-bin.sh" | tail -n1; }

ready() { [ -f "$kubeconfig" ] && "$bin/kubectl" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; }

volumes_running() { [ -f "$dir/pids/kwok-volumes.pid" ] && kill -0 "$(cat "$dir/pids/kwok-volumes.pid")" 2>/dev/null; }

node_sh() { NODE_DIR="$dir/node" KUBECONFIG="$kubeconfig" KUBECTL="$bin/kubectl" NODE_CLIENT_CA="$dir/pki/ca.crt" "$root/hack/node.sh" "$@"; }

# mode is what the running cluster was made with; a cluster of the other mode is made anew.
mode() { [ "$real_node" = 1 ] && echo real || echo simulated; }

start_volumes() {
  local real=()
  [ "$real_node" = 1 ] && real=(VOLUME_NODE=sortographer-node "VOLUME_ROOT=$dir/node/volumes")
  # setsid: the provisioner outlives `make cluster` and is stopped by `down` via its pid.
  env "${real[@]}" KUBECONFIG="$kubeconfig" KUBECTL="$bin/kubectl" setsid nohup "$root/hack/kwok-volumes.sh" \
    >"$dir/logs/kwok-volumes.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/kwok-volumes.pid"
}

up() {
  bin=$(k8s_bin)
  if ready && [ "$(cat "$dir/mode" 2>/dev/null)" != "$(mode)" ]; then
    log "cluster $name runs $(cat "$dir/mode" 2>/dev/null || echo simulated) nodes; making it anew with $(mode) ones"
    down_quiet
  fi
  if ready; then
    log "cluster $name is already running"
    volumes_running || start_volumes
    [ "$real_node" = 1 ] && node_sh up
    echo "$kubeconfig"
    return
  fi
  if [ -d "$dir" ]; then
    log "removing the stale cluster $name"
    down_quiet
  fi
  local start=$SECONDS
  [ "$real_node" = 1 ] && { node_sh check || exit 1; }
  local real_args=()
  mkdir -p "$KWOK_WORKDIR"
  if [ "$real_node" = 1 ]; then
    # kwok leaves the real node alone; the API server reaches its kubelet by address and
    # authenticates with a client certificate of the cluster's CA, which the kubelet trusts
    # (kubectl logs, exec, port-forward). A config file, not --extra-args: kwokctl 0.8.0
    # panics on several --extra-args for more than one component.
    cat >"$KWOK_WORKDIR/real-node-$name.yaml" <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  # Pods reach the API server through the kubernetes Service's address (in-cluster config).
  kubeApiserverCertSANs: ["10.0.0.1"]
componentsPatches:
- name: kube-apiserver
  extraArgs:
  - {key: kubelet-preferred-address-types, value: InternalIP}
  - {key: kubelet-client-certificate, value: "$dir/pki/admin.crt"}
  - {key: kubelet-client-key, value: "$dir/pki/admin.key"}
- name: kwok-controller
  extraArgs:
  - {key: manage-all-nodes, value: "false"}
  - {key: manage-nodes-with-annotation-selector, value: kwok.x-k8s.io/node=fake}
YAML
    real_args=(--config "$KWOK_WORKDIR/real-node-$name.yaml")
  fi
  log "creating cluster $name (kwok binary runtime, Kubernetes binaries in $bin)"
  # kwokctl picks its components' ports by counting down from 32767 and checking that
  # each is free at that moment: two clusters created at once (test/e2e and test/realnode
  # in one `go test ./...`) would pick the same ones. Creation is serialised on this
  # machine; once one cluster listens, the next skips its ports. (-o: the components
  # kwokctl leaves running do not inherit the lock.)
  # --kubeconfig "": do not add a context to ~/.kube/config.
  flock -o "${TMPDIR:-/tmp}/sortographer-cluster-create.lock" \
    "$bin/kwokctl" create cluster --name "$name" --runtime binary \
    --kubeconfig "" \
    --etcd-binary "$bin/etcd" \
    --kube-apiserver-binary "$bin/kube-apiserver" \
    --kube-controller-manager-binary "$bin/kube-controller-manager" \
    --kube-scheduler-binary "$bin/kube-scheduler" \
    --kwok-controller-binary "$bin/kwok" \
    "${real_args[@]}" ${CLUSTER_EXTRA_ARGS:-} \
    --wait 2m >"$KWOK_WORKDIR/create-$name.log" 2>&1 \
    || { cat "$KWOK_WORKDIR/create-$name.log" >&2; log "kwokctl create cluster failed"; exit 1; }

  mode >"$dir/mode"
  local k=("$bin/kubectl" --kubeconfig "$kubeconfig")
  # shellcheck disable=SC2034 # zone is read inside the heredoc below
  "${k[@]}" apply -f - >/dev/null <<EOF
$([ "$kwok_nodes" = 1 ] && for zone in a b c; do cat <<NODE
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
  if [ "$real_node" = 1 ]; then node_sh up; fi
  "${k[@]}" wait --for=condition=Ready node --all --timeout=60s >/dev/null
  # Pods need the default ServiceAccount, which kube-controller-manager creates.
  until "${k[@]}" get serviceaccount default -n default >/dev/null 2>&1; do sleep 0.5; done
  local nodes=()
  [ "$kwok_nodes" = 1 ] && nodes+=("3 simulated nodes in zones a, b, c")
  [ "$real_node" = 1 ] && nodes+=("a real node")
  log "cluster $name is ready in $((SECONDS - start))s: ${nodes[*]}"
  log "use it: export KUBECONFIG=$kubeconfig"
  echo "$kubeconfig"
}

down_quiet() {
  if [ -d "$dir/node" ]; then node_sh down || log "stopping the real node failed; deleting the rest"; fi
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

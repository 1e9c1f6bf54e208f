#!/usr/bin/env bash
# node.sh up|down|check — a real node for the local cluster (hack/cluster.sh starts it
# when REAL_NODE=1): containerd with Debian's runc, the kubelet, kube-proxy (iptables)
# and CoreDNS, all on this machine, joined to the kwok cluster's API server. Pods
# scheduled to it run for real, in containers, with their own IPs on a bridge, and
# resolve Service names. Binaries come from hack/node-bin.sh (the Go module proxy).
# Images come from a registry, as on a real cluster: the node runs the CNCF distribution
# registry (hack/registry.sh) on 127.0.0.1:NODE_REGISTRY_PORT, pushes the archives of
# `make images images-base` to it (hack/push -keep-path), and containerd pulls from it,
# both by its own address and as the mirror of ghcr.io, docker.io and registry.k8s.io
# (no other registry is reachable here).
#
# Environment (set by hack/cluster.sh):
#   NODE_DIR     state folder (containerd's root, the kubelet's, logs, pids)
#   KUBECONFIG   the cluster's admin kubeconfig
#   NODE_NAME    default sortographer-node
#   NODE_IMAGES  folder of the OCI archives to push to the node's registry (default: dist/images)
#   NODE_REGISTRY_PORT  the node's registry port on 127.0.0.1 (default 5000)
#   NODE_ID      names this node's folder of sockets and pod volumes,
#                /var/lib/sortographer-node/<id> (default: the state folder's parent's name):
#                a short path, because unix sockets (the kubelet's, containerd's) must be
#                under 108 characters wherever the repository or the temp dir is
#
# What this machine needs and why (see the issue and docs): root, cgroup v1 with the
# cgroupfs driver (the kubelet runs with failCgroupV1: false, cgroupsPerQOS: false), and
# restrict_oom_score_adj in containerd, because this machine refuses negative OOM scores.
# Only one real node can run on a machine at a time: kube-proxy's iptables chains and the
# bridge are machine-wide.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state=${NODE_DIR:-}
node=${NODE_NAME:-sortographer-node}
kubeconfig=${KUBECONFIG:-}
node_id=${NODE_ID:-$(basename "$(dirname "${state:-/x}")")}
short=/var/lib/sortographer-node/$node_id
kubectl=${KUBECTL:-kubectl}
pod_cidr=${NODE_POD_CIDR:-10.244.0.0/24}
registry=127.0.0.1:${NODE_REGISTRY_PORT:-5000}
# The registries whose images the node's registry mirrors: every image the local cluster
# runs names one of them, or the node's registry itself.
mirrored=(ghcr.io docker.io registry.k8s.io)
bridge=sortographer0
log() { echo "node: $*" >&2; }

# needs_state: up and down work on NODE_DIR, and on a folder named by the node id that
# down deletes, so the id must be a plain name.
needs_state() {
  [ -n "$state" ] || { log "NODE_DIR must be set"; exit 2; }
  [[ $node_id =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || { log "NODE_ID (or the cluster name) must be a plain name, not '$node_id'"; exit 2; }
}

# check: can this machine run containers? One line saying what is missing, exit 1.
check() {
  local why=()
  [ "$(id -u)" -eq 0 ] || why+=("it runs as uid $(id -u), and containerd and the kubelet need root")
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || why+=("no cgroup hierarchy is mounted at /sys/fs/cgroup")
  command -v runc >/dev/null || why+=("runc is missing (hack/install-deps.sh installs it)")
  command -v iptables >/dev/null || why+=("iptables is missing (hack/install-deps.sh installs it)")
  if [ ${#why[@]} -gt 0 ]; then
    echo "node: this machine cannot run containers: ${why[*]}; run as root on Linux with cgroups, or use REAL_NODE=0 for a simulated cluster" >&2
    return 1
  fi
}

# write FILE < content — replaces FILE only when the content differs: kube-proxy exits
# when its configuration file changes, and a running node must survive `up` again.
write() {
  local tmp; tmp=$(mktemp "$1.XXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

node_ip() { ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1; }

running() { local f="$state/pids/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

start() { # start NAME COMMAND... — in the background, its own session, logs in logs/NAME.log
  local name=$1; shift
  setsid nohup "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$state/pids/$name.pid"
}

wait_for() { # wait_for WHAT SECONDS COMMAND...
  local what=$1 deadline=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then log "$what did not come up; its log:"; tail -n 30 "$state/logs/$what.log" >&2 || true; return 1; fi
    sleep 0.5
  done
}

# registry_up starts the node's registry, tells containerd to pull from it (a hosts.toml
# per mirrored registry, and one for its own address, over plain HTTP), and pushes the
# image archives to it, each under its reference's repository path.
registry_up() {
  local bin host upstream
  if ! running registry; then
    bin=$("$root/hack/registry.sh" | tail -n1)
    write "$state/registry/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $state/registry/data}
  delete: {enabled: true}
http: {addr: $registry}
YAML
    # The registry reads every REGISTRY_* variable as configuration.
    # shellcheck disable=SC2046
    start registry env $(compgen -e | grep '^REGISTRY_' | sed 's/^/-u /') OTEL_TRACES_EXPORTER=none \
      "$bin" serve "$state/registry/config.yml"
    wait_for registry 30 curl -fsS "http://$registry/v2/"
  fi
  for host in "${mirrored[@]}" "$registry"; do
    mkdir -p "$state/containerd/certs.d/$host"
    upstream=https://$host
    [ "$host" = "$registry" ] && upstream=http://$registry
    write "$state/containerd/certs.d/$host/hosts.toml" <<TOML
server = "$upstream"
[host."http://$registry"]
  capabilities = ["pull", "resolve"]
TOML
  done
  local images=("${NODE_IMAGES:-$root/dist/images}"/*.tar)
  [ -f "${images[0]}" ] || { log "no image archives in ${NODE_IMAGES:-$root/dist/images}: run make images images-base"; exit 1; }
  (cd "$root" && go build -o "$state/push" ./hack/push)
  "$state/push" -registry "$registry" -insecure -keep-path "${images[@]}" >"$state/logs/push.log" 2>&1 ||
    { tail -n 20 "$state/logs/push.log" >&2; log "pushing the images to $registry failed"; exit 1; }
  log "pushed $(wc -l <"$state/logs/push.log") images to the node's registry $registry"
}

up() {
  check
  needs_state
  [ -n "$kubeconfig" ] || { log "KUBECONFIG must be set"; exit 2; }
  local bin ip
  bin=$("$root/hack/node-bin.sh" | tail -n1)
  ip=$(node_ip)
  [ -n "$ip" ] || { log "cannot tell this machine's address (ip route get)"; exit 1; }
  mkdir -p "$state"/{logs,pids,containerd,kubelet,cni/net.d,cni/ipam,volumes,registry/data} "$short/kubelet"
  export PATH="$bin:$PATH"

  # Routing between the bridge and Services, and bridged traffic through iptables so
  # kube-proxy's rules see pod-to-pod Service traffic.
  modprobe br_netfilter 2>/dev/null || true
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1

  write "$state/cni/net.d/10-sortographer.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "sortographer",
  "plugins": [
    {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$state/cni/ipam", "ranges": [[{"subnet": "$pod_cidr"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON

  local sock="$short/containerd.sock"
  write "$state/containerd/config.toml" <<TOML
version = 3
root = '$state/containerd/root'
state = '$short/containerd'
[grpc]
  address = '$sock'
[ttrpc]
  address = '$sock.ttrpc'
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = 'registry.k8s.io/pause:3.10'
[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = '$state/containerd/certs.d'
[plugins.'io.containerd.cri.v1.runtime']
  # This machine refuses negative oom_score_adj values (the kubelet asks -998 for sandboxes).
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = '$(command -v runc)'
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['$bin']
    conf_dir = '$state/cni/net.d'
TOML
  # Where containerd answers, for tools (test/realnode reads it).
  echo "$sock" | write "$state/containerd.address"
  if ! running containerd; then
    start containerd containerd --config "$state/containerd/config.toml"
    wait_for containerd 30 ctr --address "$sock" version
  fi

  registry_up

  # The kubelet and kube-proxy authenticate with the cluster's admin kubeconfig: this is a
  # single-user development cluster.
  write "$state/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1, hybrid layout, cgroupfs: what this machine has.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
address: $ip
port: ${NODE_KUBELET_PORT:-10250}
readOnlyPort: 0
healthzPort: 0
clusterDNS: [$ip]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
staticPodPath: ""
serializeImagePulls: false
# Images come from the node's registry, which is gone with the node: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$NODE_CLIENT_CA"}
authorization: {mode: Webhook}
YAML
  if ! running kubelet; then
    start kubelet kubelet --config "$state/kubelet/config.yaml" --kubeconfig "$kubeconfig" \
      --root-dir "$short/kubelet" --cert-dir "$state/kubelet/pki" \
      --hostname-override "$node" --node-ip "$ip" \
      --node-labels "type=real,topology.kubernetes.io/zone=${NODE_ZONE:-zone-real},topology.kubernetes.io/region=local"
  fi

  write "$state/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$kubeconfig"}
hostnameOverride: $node
clusterCIDR: $pod_cidr
# Pod to Service to a pod on the same bridge: SNAT so the reply returns through the host.
iptables: {masqueradeAll: true}
conntrack: {maxPerCore: 0}
healthzBindAddress: ""
metricsBindAddress: ""
YAML
  running kube-proxy || start kube-proxy kube-proxy --config "$state/kube-proxy.yaml"

  write "$state/Corefile" <<COREFILE
.:53 {
    bind $ip
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
COREFILE
  running coredns || start coredns coredns -conf "$state/Corefile"
  # Both fail only in their logs (a port taken, a bad configuration): make it loud here.
  sleep 1
  local component
  for component in kube-proxy coredns; do
    running "$component" || { log "$component exited; its log:"; tail -n 20 "$state/logs/$component.log" >&2; exit 1; }
  done

  wait_for kubelet 90 "$kubectl" --kubeconfig "$kubeconfig" wait --for=condition=Ready "node/$node" --timeout=1s
  log "real node $node is Ready at $ip (pods on $pod_cidr, DNS at $ip)"
}

stop() { # stop NAME — SIGTERM, then SIGKILL after 5 s
  local f="$state/pids/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$f"
}

down() {
  needs_state
  local sock="$short/containerd.sock" bin task shim
  bin=$("$root/hack/node-bin.sh" 2>/dev/null | tail -n1) || true
  stop coredns
  stop kube-proxy
  stop kubelet
  # Containers outlive the kubelet and containerd (each has its own shim): kill every
  # task while containerd still answers, then any shim of this node that is left.
  if [ -x "$bin/ctr" ] && running containerd; then
    for task in $("$bin/ctr" --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      "$bin/ctr" --address "$sock" -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
    done
    for _ in $(seq 50); do
      [ -z "$("$bin/ctr" --address "$sock" -n k8s.io tasks ls -q 2>/dev/null | head -n1)" ] && break
      sleep 0.1
    done
  fi
  stop containerd
  stop registry
  for shim in $(pgrep -f -- "-address $sock\$" || true); do
    pkill -9 -P "$shim" 2>/dev/null || true
    kill -9 "$shim" 2>/dev/null || true
  done
  # Unmount whatever the kubelet and containerd left mounted under the state folders
  # (awk, not grep: no mount left is no match, and grep would fail the pipeline for it).
  awk -v a="$state/" -v b="$short/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/self/mounts \
    | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$short"
  ip link delete "$bridge" 2>/dev/null || true
  # The bridge plugin's masquerade chains, one a pod (CNI DEL never ran: the pods were
  # killed with their node). Only chains our network's rules jump to.
  local rule chain
  iptables-save -t nat 2>/dev/null | grep -- '^-A POSTROUTING .*name: \\"sortographer\\"' | while read -r rule; do
    chain=${rule##* -j }
    eval "iptables -t nat ${rule/#-A/-D}" 2>/dev/null || true
    iptables -t nat -F "$chain" 2>/dev/null && iptables -t nat -X "$chain" 2>/dev/null || true
  done || true
  # kube-proxy's rules: its own cleanup mode removes them.
  if [ -x "$bin/kube-proxy" ]; then "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  check) check ;;
  *) echo "usage: $0 up|down|check" >&2; exit 2 ;;
esac

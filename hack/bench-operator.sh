#!/usr/bin/env bash
# bench-operator.sh — the operator at scale on the local kwok cluster (`make bench-operator`).
#
#   hack/bench-operator.sh scale N [N...]   N spec: {} Galleries over 10 namespaces, for each N
#                                           on a fresh cluster: time until every Gallery was
#                                           reconciled once and until every one is Ready, the
#                                           floor (the same children applied by parallel
#                                           `kubectl apply --server-side`), writes, reads and
#                                           passes per Gallery, steady-state writes and reads, RSS and
#                                           CPU, and a restart's re-sync time and writes
#   hack/bench-operator.sh unrelated [M]    the operator's RSS with 5 Galleries, before and
#                                           after M (5000) unrelated Deployments, Services
#                                           and PVCs in another namespace
#
# The operator runs as a host process (go build ./cmd/manager) with its flags from
# $OPERATOR_ARGS (e.g. "--concurrent=8"); its counts come from its own metrics endpoint:
# rest_client_requests_total (client-go's, by method) and
# sortographer_gallery_reconciles_total. The cluster is hack/cluster.sh's, named
# bench-operator, with a /16 service range (kwokctl's default /24 holds 84 Galleries'
# Services) and one extra simulated node for 20,000 pods. Settings: STEADY (seconds of
# steady state, default 120), FLOOR_PARALLEL (kubectl processes, default 16), FLOOR=0 skips
# the floor (a quicker look at memory and writes), KEEP=1 keeps
# the cluster; MANAGER_BIN runs that binary instead of this tree's; HEAP_PROFILES=DIR saves
# the operator's heap profile (after a collection) at the end of each steady state as
# DIR/heap-N.pb.gz, for `go tool pprof -sample_index=inuse_space`. Results go to stdout as
# one table row per N.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CLUSTER_NAME=${CLUSTER_NAME:-bench-operator}
export CLUSTER_EXTRA_ARGS="--extra-args kube-apiserver=service-cluster-ip-range=10.0.0.0/16"
steady=${STEADY:-120}
floor_parallel=${FLOOR_PARALLEL:-16}
port=${METRICS_PORT:-18080}
work=$(mktemp -d)
bin=$(hack/k8s-bin.sh | tail -n1)
op_pid=""

log() { echo "bench-operator: $*" >&2; }
for tool in jq curl; do
  command -v "$tool" >/dev/null || { log "needs $tool: apt-get install jq curl"; exit 1; }
done
cleanup() {
  [ -n "$op_pid" ] && kill "$op_pid" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] || hack/cluster.sh down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

k() { "$bin/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

cluster_up() {
  hack/cluster.sh down >/dev/null 2>&1 || true
  KUBECONFIG=$(hack/cluster.sh up | tail -n1)
  export KUBECONFIG
  k apply --server-side -f config/crd/bases >/dev/null
  k apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: kwok-bench
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, kubernetes.io/hostname: kwok-bench, kubernetes.io/os: linux, topology.kubernetes.io/zone: zone-a}
status:
  allocatable: {cpu: "10000", memory: 10000Gi, pods: "20000"}
  capacity: {cpu: "10000", memory: 10000Gi, pods: "20000"}
EOF
  # A CRD just created may have no conditions yet, which kubectl wait reports as an error.
  until k wait --for condition=Established crd/galleries.sortographer.io >/dev/null 2>&1; do sleep 1; done
}

start_operator() {
  "$work/manager" --metrics-bind-address=127.0.0.1:$port --health-probe-bind-address=127.0.0.1:$((port + 1)) \
    --pprof-bind-address=127.0.0.1:$((port + 2)) --zap-log-level=error ${OPERATOR_ARGS:-} >>"$work/operator.log" 2>&1 &
  op_pid=$!
  until curl -sf "http://127.0.0.1:$((port + 1))/readyz" >/dev/null; do sleep 0.2; done
}

stop_operator() { kill "$op_pid"; wait "$op_pid" 2>/dev/null || true; op_pid=""; }

metrics() { curl -sf "http://127.0.0.1:$port/metrics"; }
# writes / reads: the operator's requests to the API server since it started.
writes() { metrics | awk '/^rest_client_requests_total/ && /method="(POST|PUT|PATCH|DELETE)"/ { s += $NF } END { print s + 0 }'; }
reads() { metrics | awk '/^rest_client_requests_total/ && /method="GET"/ { s += $NF } END { print s + 0 }'; }
passes() { metrics | awk '/^sortographer_gallery_reconciles_total/ { s += $NF } END { print s + 0 }'; }
rss_mib() { awk '/VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$op_pid/status"; }
# rss_parts: the RSS's anonymous part (the Go heap, its garbage and the runtime) and its
# file-backed part (the binary's text and data pages, clean and reclaimable), and the Go
# runtime's own account of what it holds from the OS (its memory classes, from the
# metrics): heap objects (live and not yet swept garbage), unused (the free slots of spans
# that hold objects: fragmentation), free (whole spans not yet returned to the OS), and
# the runtime's metadata, stacks and the rest.
rss_parts() {
  awk '/RssAnon/ { a = $2 } /RssFile/ { f = $2 } END { printf "anon %d MiB, file %d MiB", a / 1024, f / 1024 }' "/proc/$op_pid/status"
  metrics | awk '
    /^go_memory_classes_heap_objects_bytes/ { o = $NF }
    /^go_memory_classes_heap_unused_bytes/ { u = $NF }
    /^go_memory_classes_heap_free_bytes/ { f = $NF }
    /^go_memory_classes_(metadata|os_stacks|heap_stacks|other|profiling)/ { r += $NF }
    END { printf ", heap objects %d MiB, unused %d MiB, free %d MiB, runtime %d MiB", o / 1048576, u / 1048576, f / 1048576, r / 1048576 }'
}
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$op_pid/stat"; }

# count_galleries JSONPATH_TEST: Galleries whose status passes the jq test.
count() { k get galleries -A -o json | jq "[.items[] | select($1)] | length"; }

galleries_yaml() {
  local n=$1 prefix=$2
  for i in $(seq 0 $((n - 1))); do
    printf -- '---\napiVersion: sortographer.io/v1alpha1\nkind: Gallery\nmetadata: {name: g%d, namespace: %s-%d}\nspec: {}\n' "$i" "$prefix" $((i % 10))
  done
}

namespaces() { for i in $(seq 0 9); do k create namespace "$1-$i" >/dev/null; done; }

wait_for() { # wait_for WHAT N JQ_TEST TIMEOUT → seconds since $start
  local what=$1 n=$2 test=$3 timeout=$4 c
  while :; do
    c=$(count "$test")
    [ "$c" -ge "$n" ] && break
    if awk -v a="$start" -v b="$(now)" -v t="$timeout" 'BEGIN { exit !(b - a > t) }'; then
      log "$what: only $c of $n after ${timeout}s"
      echo "timeout($c/$n)"
      return
    fi
    sleep 1
  done
  since "$start"
}

# floor N: the children the operator made for the Galleries in namespaces g-*, copied into
# namespaces floor-*, applied by FLOOR_PARALLEL parallel `kubectl apply --server-side`, one
# Gallery's children per call.
floor() {
  local n=$1
  namespaces floor
  mkdir -p "$work/floor"
  k get deployments,statefulsets,services,configmaps,serviceaccounts,persistentvolumeclaims,poddisruptionbudgets,networkpolicies,secrets \
    -A -l app.kubernetes.io/managed-by=sortographer-operator -o json |
    jq -r '.items[] | select(.metadata.namespace | startswith("g-")) |
      .metadata |= {name, namespace: ("floor-" + (.namespace | ltrimstr("g-"))), labels, annotations} |
      del(.status) | del(.spec.clusterIP, .spec.clusterIPs, .spec.volumeName) |
      "\(.metadata.labels["sortographer.io/gallery"]).\(.metadata.namespace) \(tojson)"' |
    # One file a Gallery: "gallery.namespace {json}" lines, split by one awk.
    awk -v dir="$work/floor" '{ f = dir "/" $1 ".json"; sub(/^[^ ]+ /, ""); print >>f; close(f) }'
  local start
  start=$(now)
  find "$work/floor" -name '*.json' -print0 | xargs -0 -P "$floor_parallel" -I{} \
    "$bin/kubectl" --kubeconfig "$KUBECONFIG" apply --server-side --field-manager=floor -f {} >/dev/null
  since "$start"
}

scale() {
  local n=$1 start t_once t_ready w p steady_w steady_r rss cpu t_resync resync_w floor_t
  log "N=$n: fresh cluster"
  cluster_up
  namespaces g
  start_operator
  local w0 r0 p0 r
  w0=$(writes); r0=$(reads); p0=$(passes)
  start=$(now)
  galleries_yaml "$n" g | k apply -f - >/dev/null
  # The waits grow with N: at 1,000 on 2 cores, reconciling each once took 900 to 935 s.
  t_once=$(wait_for "reconciled once" "$n" '.status.observedGeneration != null' $((900 + n)))
  log "N=$n: every Gallery reconciled once in ${t_once}s"
  t_ready=$(wait_for "Ready" "$n" '.status.phase == "Ready"' $((1200 + n)))
  log "N=$n: every Gallery Ready in ${t_ready}s"
  sleep 5
  w=$(( $(writes) - w0 )); r=$(( $(reads) - r0 )); p=$(( $(passes) - p0 ))
  local r1 w1 cpu1
  w1=$(writes); r1=$(reads); cpu1=$(cpu_s)
  sleep "$steady"
  steady_w=$(( $(writes) - w1 )); steady_r=$(( $(reads) - r1 ))
  rss=$(rss_mib); cpu=$(cpu_s)
  local steady_cpu
  steady_cpu=$(awk -v a="$cpu1" -v b="$cpu" 'BEGIN { printf "%.1f", b - a }')
  log "N=$n: steady state ${steady}s: $steady_w writes, $steady_r reads, ${steady_cpu} CPU-s; RSS ${rss} MiB ($(rss_parts)); $w writes, $r reads, $p passes while converging"
  if [ -n "${HEAP_PROFILES:-}" ]; then
    mkdir -p "$HEAP_PROFILES"
    curl -sf "http://127.0.0.1:$((port + 2))/debug/pprof/heap?gc=1" >"$HEAP_PROFILES/heap-$n.pb.gz"
    log "N=$n: heap profile in $HEAP_PROFILES/heap-$n.pb.gz"
  fi
  log "N=$n: restart"
  stop_operator
  start=$(now)
  start_operator
  # Before it is ready the operator asks, with one dry-run create, whether HPAs keep a
  # tolerance (controllers.HPAToleranceServed): a POST that writes nothing, not counted.
  local w_ready
  w_ready=$(writes)
  until [ "$(passes)" -ge "$n" ]; do sleep 0.5; done
  t_resync=$(since "$start")
  sleep 5
  resync_w=$(( $(writes) - w_ready ))
  local rss_resync
  rss_resync=$(rss_mib)
  log "N=$n: restart re-synced in ${t_resync}s with $resync_w writes; RSS ${rss_resync} MiB ($(rss_parts))"
  stop_operator
  floor_t="-"
  if [ "${FLOOR:-1}" != 0 ]; then
    log "N=$n: floor"
    floor_t=$(floor "$n")
  fi
  printf '| %d | %s s | %s s | %s s | %.1f | %.1f | %.1f | %d writes, %d reads in %d s (%s CPU-s) | %d MiB (%d MiB after restart) | %s CPU-s | %s s, %d writes |\n' \
    "$n" "$t_once" "$t_ready" "$floor_t" "$(awk -v a="$w" -v n="$n" 'BEGIN { print a / n }')" \
    "$(awk -v a="$r" -v n="$n" 'BEGIN { print a / n }')" \
    "$(awk -v a="$p" -v n="$n" 'BEGIN { print a / n }')" "$steady_w" "$steady_r" "$steady" "$steady_cpu" \
    "$rss" "$rss_resync" "$cpu" "$t_resync" "$resync_w"
}

unrelated() {
  local m=${1:-5000} before after
  cluster_up
  namespaces g
  start_operator
  galleries_yaml 5 g | k apply -f - >/dev/null
  local start
  start=$(now)
  wait_for "Ready" 5 '.status.phase == "Ready"' 300 >/dev/null
  sleep 20
  before=$(rss_mib)
  k create namespace others >/dev/null
  log "creating $m unrelated Deployments, Services and PVCs"
  for i in $(seq 0 $((m - 1))); do
    printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d%d, namespace: others, labels: {app: d%d}}\nspec:\n  replicas: 0\n  selector: {matchLabels: {app: d%d}}\n  template:\n    metadata: {labels: {app: d%d}}\n    spec: {containers: [{name: c, image: nginx}]}\n' "$i" "$i" "$i" "$i"
    printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: others}\nspec: {ports: [{port: 80}], clusterIP: None}\n' "$i"
    printf -- '---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: p%d, namespace: others}\nspec: {accessModes: [ReadWriteOnce], storageClassName: none, resources: {requests: {storage: 1Gi}}}\n' "$i"
  done >"$work/unrelated.yaml"
  awk -v dir="$work" '/^---$/ { n++ } { print > (dir "/unrelated-" int(n / 500) ".yaml") }' "$work/unrelated.yaml"
  find "$work" -name 'unrelated-*.yaml' -print0 | xargs -0 -P 4 -I{} "$bin/kubectl" --kubeconfig "$KUBECONFIG" apply -f {} >/dev/null
  log "created; waiting 30 s"
  sleep 30
  after=$(rss_mib)
  printf '| 5 Galleries, %d unrelated Deployments + Services + PVCs | %d MiB before, %d MiB after | %s |\n' "$m" "$before" "$after" "${OPERATOR_ARGS:-defaults}"
}

if [ -n "${MANAGER_BIN:-}" ]; then
  cp "$MANAGER_BIN" "$work/manager" # another build, e.g. an earlier commit's, to compare
else
  log "building the operator"
  go build -o "$work/manager" ./cmd/manager
fi
case "${1:-scale}" in
  scale)
    shift || true
    echo "| Galleries | all reconciled once | all Ready | floor (parallel SSA of the same children) | writes / Gallery | reads / Gallery | passes / Gallery | steady state | RSS | CPU to converge + steady | restart: re-sync, writes |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    [ $# -gt 0 ] || set -- 100 500
    for n in "$@"; do scale "$n"; done
    ;;
  unrelated) shift; unrelated "${1:-5000}" ;;
  *) echo "usage: $0 scale N... | unrelated [M]" >&2; exit 2 ;;
esac

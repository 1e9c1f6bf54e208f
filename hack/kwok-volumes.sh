#!/usr/bin/env bash
# kwok-volumes.sh — a tiny volume provisioner for the local kwok cluster (hack/cluster.sh
# starts it in the background). kwok's nodes have no storage, so nothing would ever bind a
# PersistentVolumeClaim and a Gallery's managed Redis, MariaDB and photo volume would stay
# Pending. Every couple of seconds this creates, for each Pending claim, a PersistentVolume
# pre-bound to it (claimRef), which kube-controller-manager then binds; and it deletes the
# volumes whose claims are gone. The volumes are hostPath entries nobody mounts: kwok's
# pods never run.
#
# With a real node (hack/node.sh; VOLUME_NODE names it, VOLUME_ROOT is a folder on this
# machine) every volume is a real directory under VOLUME_ROOT instead: a `local` volume
# with node affinity to that node, so the kubelet mounts it and applies the pod's fsGroup
# (the managed Redis and MariaDB run as uid 999, the gallery as 65532). The directory is
# made before the volume and removed after its claim is gone.
#
#   KUBECONFIG=... hack/kwok-volumes.sh            (loops until killed)
#   KUBECONFIG=... hack/kwok-volumes.sh --once     (one pass, for tests)
set -euo pipefail
kubectl=${KUBECTL:-kubectl}
interval=${KWOK_VOLUMES_INTERVAL:-2}

# Where each volume lives: nowhere (kwok's pods never mount it), or a real directory on
# the real node.
volume_source='hostPath: {path: "/var/lib/kwok-volumes/{{.metadata.uid}}"}'
if [ -n "${VOLUME_NODE:-}" ]; then
  : "${VOLUME_ROOT:?VOLUME_ROOT is the folder of the real node volumes}"
  volume_source="local: {path: \"$VOLUME_ROOT/{{.metadata.uid}}\"}
  nodeAffinity: {required: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [\"$VOLUME_NODE\"]}]}]}}"
fi

# One PV per Pending claim that no volume was named for. Same class, access modes, size and
# volume mode as the claim, so the binder accepts it.
pv_template='{{range .items}}{{if and (eq .status.phase "Pending") (not .spec.volumeName)}}---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: kwok-{{.metadata.uid}}
  labels: {sortographer.io/kwok-volume: "true"}
spec:
  capacity: {storage: "{{index .spec.resources.requests "storage"}}"}
  accessModes: [{{range $i, $m := .spec.accessModes}}{{if $i}}, {{end}}{{$m}}{{end}}]
  storageClassName: "{{with .spec.storageClassName}}{{.}}{{end}}"
  volumeMode: {{with .spec.volumeMode}}{{.}}{{else}}Filesystem{{end}}
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: "{{.metadata.namespace}}", name: "{{.metadata.name}}", uid: "{{.metadata.uid}}"}
  '"$volume_source"'
{{end}}{{end}}'

# Volumes of ours whose claim was deleted: Retain leaves them Released; nothing holds data.
released_template='{{range .items}}{{if eq .status.phase "Released" "Failed"}}{{.metadata.name}}{{"\n"}}{{end}}{{end}}'

pass() {
  local pvs released
  pvs=$("$kubectl" get pvc --all-namespaces -o go-template="$pv_template")
  if [ -n "${VOLUME_NODE:-}" ] && [ -n "$pvs" ]; then
    local uid
    for uid in $(printf '%s\n' "$pvs" | sed -n 's/^  name: kwok-//p'); do mkdir -p "$VOLUME_ROOT/$uid"; done
  fi
  if [ -n "$pvs" ]; then
    # AlreadyExists is fine: the binder has not caught up with last pass's volume yet.
    printf '%s\n' "$pvs" | "$kubectl" create -f - 2>&1 | grep -v AlreadyExists || true
  fi
  released=$("$kubectl" get pv -l sortographer.io/kwok-volume=true -o go-template="$released_template")
  if [ -n "$released" ]; then
    # shellcheck disable=SC2086 # one name per word
    "$kubectl" delete pv --wait=false $released || true
    if [ -n "${VOLUME_NODE:-}" ]; then
      local name
      for name in $released; do rm -rf "${VOLUME_ROOT:?}/${name#kwok-}"; done
    fi
  fi
}

if [ "${1:-}" = "--once" ]; then pass; exit 0; fi
while true; do
  pass || echo "kwok-volumes: pass failed; retrying" >&2
  sleep "$interval"
done

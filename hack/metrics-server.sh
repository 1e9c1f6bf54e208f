#!/usr/bin/env bash
# Builds the pinned metrics-server from the Go module proxy into
# bin/metrics-server-v<version>/metrics-server (reused, and cached per user: see
# hack/cached-go-build.sh). The end-to-end tests (test/e2e) run it beside the local kwok
# cluster (kwokctl --enable metrics-server), so kwok's simulated pod CPU usage reaches
# the kube-controller-manager's HorizontalPodAutoscaler controller. Prints the binary's
# path on its last line.
set -euo pipefail
METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-0.9.0}
# The version is stamped so `metrics-server --version` reports it (kwokctl reads it).
exec "$(dirname "$0")/cached-go-build.sh" metrics-server \
  sigs.k8s.io/metrics-server/cmd/metrics-server "$METRICS_SERVER_VERSION" \
  "-X k8s.io/client-go/pkg/version.gitVersion=v$METRICS_SERVER_VERSION"

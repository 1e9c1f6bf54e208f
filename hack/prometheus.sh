#!/usr/bin/env bash
# Builds the pinned Prometheus server and promtool from the Go module proxy into
# bin/prometheus-v<version>/prometheus and bin/promtool-v<version>/promtool (reused, and
# cached per user: see hack/cached-go-build.sh). test/alerts runs promtool on the chart's
# alert rules and dashboard (check rules, test rules); test/realnode runs Prometheus
# against a real Gallery. Prints promtool's path, then Prometheus', on its last two lines.
#
# Prometheus 3's Go module is versioned v0.3xx.y for release 3.xx.y: 0.316.0 is 3.16.0.
set -euo pipefail
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-0.316.0}
build="$(dirname "$0")/cached-go-build.sh"
promtool=$("$build" promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION" | tail -n1)
prometheus=$("$build" prometheus github.com/prometheus/prometheus/cmd/prometheus "$PROMETHEUS_VERSION" | tail -n1)
echo "$promtool"
echo "$prometheus"

#!/usr/bin/env bash
# Runs every benchmark of the project, one package at a time, and prints a summary to
# stdout: each benchmark's metrics, then the end-to-end table from test/bench. The raw
# `go test` output streams to stderr as it runs.
#
# Packages are those with a `func Benchmark` in a _test.go file (today internal/worker,
# internal/imaging, internal/store, internal/classify/builtin and test/bench). They need
# redis-server and redis-benchmark, mariadb-server and postgresql (internal/store's
# 100,000-image list and search, test/bench's upload throughput), vipsthumbnail (libvips-
# tools, compared with our thumbnails), heif-enc (libheif-examples, the 12 MP HEIC that
# comparison makes), the darknet photos (all from hack/install-deps.sh) and the built-in
# model (hack/model.sh, run here). Settings from the environment:
#   BENCH_PACKAGES  packages to run instead (e.g. "./test/bench")
#   BENCH_FILTER    the -bench regular expression (default ".")
#   BENCH_FLAGS     more flags for every `go test` (e.g. "-benchtime=3s -count=3")
#   BENCH_OUTPUT    also keep the raw output in this file
#   SORTOGRAPHER_PROVIDER_RPS, SORTOGRAPHER_INTAKE_PER_SECOND, SORTOGRAPHER_WORKER_CONCURRENCY, …
#                   the end-to-end gallery's pacing (test/bench: tunables), defaults otherwise
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
SORTOGRAPHER_MODEL_DIR="${SORTOGRAPHER_MODEL_DIR:-$(hack/model.sh)}"
export SORTOGRAPHER_MODEL_DIR

if [ -n "${BENCH_PACKAGES:-}" ]; then
  read -r -a packages <<< "$BENCH_PACKAGES"
else
  mapfile -t packages < <(
    find . \( -name bin -o -name node_modules -o -name '.*' ! -name . \) -prune -o \
      -name '*_test.go' -print0 |
      xargs -0 grep -l '^func Benchmark' | xargs -n1 dirname | sort -u)
fi
[ ${#packages[@]} -gt 0 ] || { echo "bench.sh: no package has benchmarks" >&2; exit 1; }
read -r -a flags <<< "${BENCH_FLAGS:-}"

raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT
failed=()
started=$(date +%s)
for pkg in "${packages[@]}"; do
  echo "bench.sh: $pkg" >&2
  # One package at a time: benchmarks running side by side would measure each other.
  if ! go test -run '^$' -bench "${BENCH_FILTER:-.}" -count=1 -timeout 30m "$pkg" "${flags[@]}" 2>&1 | tee -a "$raw" >&2; then
    failed+=("$pkg")
  fi
done
[ -z "${BENCH_OUTPUT:-}" ] || cp "$raw" "$BENCH_OUTPUT"

echo "# Benchmarks: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +changes), $(go env GOVERSION), $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(date -u +%Y-%m-%dT%H:%MZ), $(($(date +%s) - started))s"
# "BenchmarkX/sub-2  N  123 ns/op  4.5 unit ..." becomes "pkg  X/sub  123 ns/op  4.5 unit ...".
awk '
  /^pkg: / { pkg = $2; sub(/^github.com\/sortographer\/sortographer\//, "", pkg) }
  /^Benchmark/ && NF >= 4 && $2 ~ /^[0-9]+$/ {
    name = substr($1, 10); sub(/-[0-9]+$/, "", name)
    m = ""
    for (i = 3; i < NF; i += 2) m = m sprintf("  %10s %s", $i, $(i + 1))
    printf "%-28s %-52s%s\n", pkg, name, m
  }' "$raw"
echo
# The end-to-end table, from its title to the blank line after it.
awk '/^# Upload to labelled/ { on = 1 } on { print } on && /^$/ { on = 0 }' "$raw"

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]} (output above, on stderr)"
  exit 1
fi

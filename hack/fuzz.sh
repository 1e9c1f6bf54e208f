#!/usr/bin/env bash
# Runs every fuzz target of the project (`func FuzzX` in a _test.go file), one at a time:
# `go test -fuzz` takes one target of one package per run. `make test` runs each for a
# few seconds; `make fuzz FUZZTIME=5m` for longer. A crasher is written by Go under the
# package's testdata/fuzz/<Target>/ and fails the run: commit that file with the fix, and
# every later `go test` replays it as a regression test.
#   FUZZTIME      how long each target runs (default 8s, a go test -fuzztime value; make test passes 7s)
#   FUZZ_FILTER   only targets whose "package:Target" matches this grep -E expression
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export AWS_EC2_METADATA_DISABLED=true
fuzztime="${FUZZTIME:-8s}"

mapfile -t targets < <(
  find . \( -name bin -o -name node_modules -o -name '.*' ! -name . \) -prune -o \
    -name '*_test.go' -print0 |
    xargs -0 grep -H '^func Fuzz[A-Za-z0-9_]*(f \*testing.F)' |
    sed -E 's#^(.*)/[^/]*_test.go:func (Fuzz[A-Za-z0-9_]*).*#\1:\2#' | sort -u |
    grep -E "${FUZZ_FILTER:-.}")
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets" >&2; exit 1; }

# Each package's test binary is built once, instrumented for fuzzing (`go test -c -fuzz`),
# and run once per target from the package's folder (where its testdata/fuzz corpus is):
# `go test -fuzz` per target linked a cgo binary each time, minutes of a CI run for
# seconds of fuzzing.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="$work/out"
failed=()
started=$(date +%s)
gocache="$(go env GOCACHE)"
declare -A built=()
for t in "${targets[@]}"; do
  pkg="${t%%:*}" name="${t#*:}"
  bin="$work/$(echo "$pkg" | tr '/.' '__').test"
  if [ -z "${built[$pkg]:-}" ]; then
    echo "fuzz.sh: building $pkg for fuzzing" >&2
    go test -c -fuzz . -o "$bin" "$pkg"
    built[$pkg]=1
  fi
  importpath="$(go list "$pkg")"
  echo "fuzz.sh: $pkg $name for $fuzztime" >&2
  if (cd "$pkg" && "$bin" -test.run '^$' -test.fuzz "^${name}\$" -test.fuzztime "$fuzztime" \
    -test.fuzzcachedir "$gocache/fuzz/$importpath") > "$out" 2>&1; then
    tail -n 2 "$out" >&2
    continue
  fi
  tail -n 30 "$out" >&2
  # Go 1.26's fuzz coordinator can fail a run as -fuzztime ends, with a bare "context
  # deadline exceeded" and no input (go.dev/issue/75804, fixed in Go 1.27): not a
  # crasher. Anything else, above all a written input, fails the run.
  if ! grep -q -e 'Failing input written' -e 'failure while testing seed corpus' "$out" &&
    [ "$(grep -cv -e '^fuzz: elapsed' -e '^--- FAIL: Fuzz' -e '^    context deadline exceeded$' -e '^FAIL' -e '^exit status' -e '^warning:' -e '^$' "$out")" -eq 0 ]; then
    echo "fuzz.sh: $name stopped with Go's fuzztime race (go.dev/issue/75804), no crasher: not a failure" >&2
    continue
  fi
  failed+=("$pkg $name")
done
echo "fuzz.sh: ${#targets[@]} targets, $(($(date +%s) - started))s" >&2
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz.sh: FAILED: %s\n' "${failed[@]}" >&2
  echo "fuzz.sh: the crashing input is under the package's testdata/fuzz/; rerun it with go test -run '<Target>/<file>'" >&2
  exit 1
fi

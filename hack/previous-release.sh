#!/usr/bin/env bash
# previous-release.sh — the release before this one, built from its commit in this
# repository's history, for the upgrade test (test/realnode, Upgrade): its operator and
# gallery images (dist/images/manager.tar and gallery.tar of that commit, as its own
# `make image-manager image-gallery` builds them) and its Helm chart. Prints the folder
# holding manager.tar, gallery.tar and chart/ on its last line.
#
# The result is cached per commit ($SORTOGRAPHER_CACHE, default ~/.cache/sortographer),
# so only the first run on a machine builds (the Go build cache makes even that quick:
# the dependencies are this tree's).
#
#   PREVIOUS_RELEASE  the commit (default: v0.2.0's, below)
set -euo pipefail

# v0.2.0: chart 0.2.0, images ghcr.io/sortographer/sortographer{,-operator}:v0.2.0.
PREVIOUS_RELEASE=${PREVIOUS_RELEASE:-ecce20d9d88c696ea069316ca9a6704a7fa05f16}

root=$(cd "$(dirname "$0")/.." && pwd)
out="${SORTOGRAPHER_CACHE:-$HOME/.cache/sortographer}/previous-release/$PREVIOUS_RELEASE"
log() { echo "previous-release: $*" >&2; }

if [ -f "$out/done" ]; then echo "$out"; exit 0; fi
git -C "$root" cat-file -e "$PREVIOUS_RELEASE^{commit}" 2>/dev/null ||
  { log "commit $PREVIOUS_RELEASE is not in this clone's history (a shallow clone?): git fetch --unshallow"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "building the release at ${PREVIOUS_RELEASE:0:12} (its operator and gallery images, its chart)"
git -C "$root" archive "$PREVIOUS_RELEASE" | tar -x -C "$work"
# Its own Makefile's image targets, with this clone's model cache and tools on PATH.
make -C "$work" --no-print-directory image-manager image-gallery >"$work/build.log" 2>&1 ||
  { tail -n 30 "$work/build.log" >&2; log "building the previous release failed"; exit 1; }
# Its image-gallery goes on without the built-in model when hack/model.sh fails (npm
# unreachable, say); such an image cannot classify, and must not be kept.
if grep -q "^image-gallery: hack/model.sh failed" "$work/build.log"; then
  grep -B5 "^image-gallery: hack/model.sh failed" "$work/build.log" >&2
  log "the previous release's gallery image was built without its model"; exit 1
fi
rm -rf "$out"
mkdir -p "$out"
cp "$work/dist/images/manager.tar" "$work/dist/images/gallery.tar" "$out/"
cp -r "$work/charts/sortographer" "$out/chart"
touch "$out/done"
echo "$out"

#!/usr/bin/env bash
# model.sh [amd64|arm64] — fetches the built-in classifier's files from the npm registry
# and prints the folder that holds them (bin/model/ in the repository, bin/model-arm64/
# for arm64), for SORTOGRAPHER_MODEL_DIR:
#   centernet.json, centernet.bin  the COCO-80 CenterNet TF.js graph model (@vladmandic/human, MIT)
#   labels.txt                     its 80 label names, taken from the package's dist/ sources
#   libonnxruntime.so.1            ONNX Runtime for linux/x64, or linux/arm64 (onnxruntime-node, MIT)
# The packages are unpacked once into ~/.cache/sortographer/model/<versions>/ and reused.
# `npm pack` + tar, not `npm install`: onnxruntime-node's install script downloads CUDA
# libraries, which fails offline. Nothing here is committed (bin/ is ignored).
set -euo pipefail

HUMAN_VERSION="${HUMAN_VERSION:-3.3.6}"
ORT_VERSION="${ORT_VERSION:-1.30.0}"

arch="${1:-amd64}"
case "$arch" in
  amd64) out_name=model ;;
  arm64) out_name=model-arm64 ;;
  *) echo "model.sh: no ONNX Runtime for $arch (amd64 or arm64)" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Named for its layout: an older model.sh (a previous release's build) keeps its own.
cache="${XDG_CACHE_HOME:-$HOME/.cache}/sortographer/model/human-${HUMAN_VERSION}_onnxruntime-${ORT_VERSION}_amd64-arm64"
out="$root/bin/$out_name"
# The cache holds both architectures' ONNX Runtime: the amd64 one beside the model files,
# arm64's in arm64/.
files=(centernet.json centernet.bin labels.txt libonnxruntime.so.1 arm64/libonnxruntime.so.1)

complete() {
  local f
  for f in "${files[@]}"; do [ -s "$1/$f" ] || return 1; done
}

if ! complete "$cache"; then
  command -v npm >/dev/null || { echo "model.sh: npm is needed to fetch the model (apt-get install npm)" >&2; exit 1; }
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "@vladmandic/human@${HUMAN_VERSION}" "onnxruntime-node@${ORT_VERSION}" >/dev/null)
  mkdir -p "$work/human" "$work/ort"
  tar -xzf "$work/vladmandic-human-${HUMAN_VERSION}.tgz" -C "$work/human" \
    package/models/centernet.json package/models/centernet.bin package/dist/human.esm.js package/LICENSE
  tar -xzf "$work/onnxruntime-node-${ORT_VERSION}.tgz" -C "$work/ort" \
    package/bin/napi-v6/linux/x64/libonnxruntime.so.1 package/bin/napi-v6/linux/arm64/libonnxruntime.so.1
  # Unpacked beside the cache and moved in whole: a model.sh running at the same time
  # sees the cache complete or absent, never half written.
  mkdir -p "$(dirname "$cache")"
  tmp="$(mktemp -d "$cache.tmp-XXXXXX")"
  trap 'rm -rf "$work" "$tmp"' EXIT
  mkdir -p "$tmp/arm64"
  cp "$work/human/package/models/centernet.json" "$work/human/package/models/centernet.bin" "$tmp/"
  cp "$work/human/package/LICENSE" "$tmp/LICENSE.human"
  cp "$work/ort/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$tmp/"
  cp "$work/ort/package/bin/napi-v6/linux/arm64/libonnxruntime.so.1" "$tmp/arm64/"
  # The bundle holds the COCO table as { class: 1, label: "person" }, … in class order.
  grep -oE 'class: *[0-9]+, *label: *"[^"]*"' "$work/human/package/dist/human.esm.js" |
    sed -E 's/.*label: *"([^"]*)".*/\1/' | awk '!seen[$0]++' > "$tmp/labels.txt"
  n="$(wc -l < "$tmp/labels.txt")"
  [ "$n" -eq 80 ] || { echo "model.sh: expected 80 labels in human.esm.js, found $n" >&2; exit 1; }
  # An incomplete cache (an interrupted copy) is set aside first; if another model.sh
  # moved its own in meanwhile, that one stays and this one is dropped.
  if [ -e "$cache" ] && ! complete "$cache"; then
    mv "$cache" "$tmp.old" && rm -rf "$tmp.old"
  fi
  mv -T "$tmp" "$cache" 2>/dev/null || true
  complete "$cache" || { echo "model.sh: the cache $cache is incomplete" >&2; exit 1; }
fi

lib="$cache/libonnxruntime.so.1"
[ "$arch" = arm64 ] && lib="$cache/arm64/libonnxruntime.so.1"
# Each file is copied under a temporary name and renamed into place: the tests of
# several packages run this at once, and one must never read another's half-copied file.
mkdir -p "$out"
for src in "$cache"/centernet.json "$cache"/centernet.bin "$cache"/labels.txt "$cache"/LICENSE.human "$lib"; do
  dst="$out/$(basename "$src")"
  if ! cmp -s "$src" "$dst"; then
    cp "$src" "$dst.tmp.$$" && mv -f "$dst.tmp.$$" "$dst"
  fi
done
echo "$out"

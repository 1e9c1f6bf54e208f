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
cache="${XDG_CACHE_HOME:-$HOME/.cache}/sortographer/model/human-${HUMAN_VERSION}_onnxruntime-${ORT_VERSION}"
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
  mkdir -p "$cache.tmp/arm64"
  cp "$work/human/package/models/centernet.json" "$work/human/package/models/centernet.bin" "$cache.tmp/"
  cp "$work/human/package/LICENSE" "$cache.tmp/LICENSE.human"
  cp "$work/ort/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$cache.tmp/"
  cp "$work/ort/package/bin/napi-v6/linux/arm64/libonnxruntime.so.1" "$cache.tmp/arm64/"
  # The bundle holds the COCO table as { class: 1, label: "person" }, … in class order.
  grep -oE 'class: *[0-9]+, *label: *"[^"]*"' "$work/human/package/dist/human.esm.js" |
    sed -E 's/.*label: *"([^"]*)".*/\1/' | awk '!seen[$0]++' > "$cache.tmp/labels.txt"
  n="$(wc -l < "$cache.tmp/labels.txt")"
  [ "$n" -eq 80 ] || { echo "model.sh: expected 80 labels in human.esm.js, found $n" >&2; exit 1; }
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi

lib="$cache/libonnxruntime.so.1"
[ "$arch" = arm64 ] && lib="$cache/arm64/libonnxruntime.so.1"
if ! [ -s "$out/centernet.json" ] || ! cmp -s "$cache/centernet.bin" "$out/centernet.bin" || ! cmp -s "$lib" "$out/libonnxruntime.so.1"; then
  rm -rf "$out" && mkdir -p "$out"
  cp "$cache"/centernet.json "$cache"/centernet.bin "$cache"/labels.txt "$cache"/LICENSE.human "$lib" "$out/"
fi
echo "$out"

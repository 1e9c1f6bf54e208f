#!/usr/bin/env bash
# install-deps.sh [--dry-run] — installs the Debian packages `make test`, `make run`,
# `make e2e` and `make bench` need, and nothing else. Every one of those targets runs it
# first (`make deps`), so that a fresh machine gets them before anything is built and no
# test fails for a missing package after ten minutes of compiling.
#
#   - Everything present: silent, exit 0 (a dpkg query, well under a second).
#   - Missing, as root (or with passwordless sudo): apt-get installs them.
#   - Missing, otherwise: one line naming the command to run, exit 1.
#   - --dry-run: print the apt-get commands instead of running them (test/setup uses it).
#
# Services are NOT started system-wide: each test harness starts its own server process on
# its own port and data directory (policy-rc.d keeps the packages from starting theirs).
set -euo pipefail

dry_run=false
[ "${1:-}" = --dry-run ] && dry_run=true

# What each package is for — test/setup checks that every binary the tests look up comes
# from a package listed here.
#   redis-server, mariadb-server, postgresql  the real servers internal/testservers starts
#                                             (redis-server brings redis-tools:
#                                             redis-benchmark for make bench)
#   chromium                                  the web UI's browser tests
#   darknet, python3-skimage                  the photos the built-in classifier's tests label
#                                             (data/dog.jpg, eagle.jpg, horses.jpg,
#                                             person.jpg; skimage/data/coffee.png), and most
#                                             of make eval's (test/eval/photos.yaml, with
#                                             python3-skimage's dependencies python3-pywt
#                                             and python3-imageio)
#   python-matplotlib-data, python3-sklearn   the rest of make eval's photos (grace_hopper.jpg;
#                                             china.jpg, flower.jpg); python3-skimage brings
#                                             the first already, through python3-matplotlib
#   libvips-dev                               libvips and its headers (with libheif for HEIC
#                                             and AVIF): internal/imaging decodes through it
#                                             (cgo, pkg-config vips)
#   libvips-tools                             vips, which makes internal/imaging's sample
#                                             files, and vipsthumbnail, which make bench
#                                             compares our thumbnailer with
#   libheif-examples, libavif-bin             heif-enc and avifenc: the HEIC and AVIF samples
#   imagemagick                               convert-im6.q16: sample pictures, a CMYK JPEG
#   libimage-exiftool-perl                    exiftool: EXIF orientation and dates in samples,
#                                             GPS read back in the share-link tests
#   runc, iptables, conntrack                 the local cluster's real node (hack/node.sh):
#                                             containerd's runtime, kube-proxy's rules
#   mariadb-client, postgresql-client         mariadb-dump and mariadb, pg_dump and psql: the
#                                             reference internal/backup's benchmark is
#                                             measured against
#   "shellcheck"                              make verify checks hack/*.sh and .ci/run with it
#   jq, curl                                  hack/bench-operator.sh reads the API server and
#                                             the operator's metrics with them
#   g++                                       gosseract's bridge to libtesseract is C++
#                                             (cgo compiles it with g++)
#   gcc-aarch64-linux-gnu                     cross-builds the gallery for linux/arm64
#                                             (make image-gallery-arm64, cgo with libvips)
#   g++-aarch64-linux-gnu                     and its C++ part (gosseract)
#   libc6-dev-arm64-cross                     arm64 libc headers for that build: only a
#                                             recommendation of the compiler, which
#                                             --no-install-recommends leaves out
#   qemu-user-static                          qemu-aarch64-static: hack/imagebuild's test runs
#                                             the arm64 gallery image's binary with it
#   libtesseract-dev                          libtesseract 5.3 and leptonica with their
#                                             headers: internal/classify/tesseract reads
#                                             the words in photos through them (cgo,
#                                             gosseract); the gallery image ships the
#                                             libraries
#   tesseract-ocr-eng, tesseract-ocr-kor      Tesseract's English and Korean language data
#                                             (/usr/share/tesseract-ocr/5/tessdata), for the
#                                             tests and the gallery image
#   fonts-noto-cjk                            Noto Sans CJK: the tesseract tests render
#                                             English and Korean signs with ImageMagick
packages=(redis-server mariadb-server postgresql chromium darknet python3-skimage python-matplotlib-data python3-sklearn libvips-dev libvips-tools libheif-examples libavif-bin imagemagick libimage-exiftool-perl runc iptables conntrack mariadb-client postgresql-client shellcheck jq curl g++ gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static libtesseract-dev tesseract-ocr-eng tesseract-ocr-kor fonts-noto-cjk)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

run_as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    run_as_root=(sudo)
  else
    echo "install-deps: missing Debian packages ${missing[*]}; run: sudo hack/install-deps.sh" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]} (first time: a few minutes)" >&2
run() {
  if $dry_run; then echo "${run_as_root[*]:+${run_as_root[*]} }$*"; else "${run_as_root[@]}" "$@" >/dev/null; fi
}
policy=/usr/sbin/policy-rc.d
# A policy-rc.d the machine already has is left as it is.
if ! $dry_run && ! [ -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${run_as_root[@]}" tee "$policy" >/dev/null
  "${run_as_root[@]}" chmod +x "$policy"
  trap '"${run_as_root[@]}" rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
run apt-get update -qq
run apt-get install -y -qq --no-install-recommends "${missing[@]}"

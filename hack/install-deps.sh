#!/usr/bin/env bash
# Installs what a bare machine lacks for `make test`: the real servers the tests start
# themselves (Redis, MariaDB, PostgreSQL) and the web UI test's headless browser (Chromium)
# from Debian's packages. Idempotent and quiet
# when everything is present. Services are NOT started system-wide: each test harness
# starts its own server process on its own port and data directory.
set -euo pipefail

# darknet and python3-skimage ship the photos the built-in classifier's tests label
# (data/dog.jpg, eagle.jpg, horses.jpg, person.jpg; skimage/data/coffee.png).
# libvips-tools: vipsthumbnail, which `make bench` compares our thumbnailer with.
packages=(redis-server mariadb-server postgresql chromium darknet python3-skimage libvips-tools)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  # policy-rc.d keeps the packages from starting system services we do not use.
  printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
  $sudo_cmd chmod +x /usr/sbin/policy-rc.d
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $sudo_cmd rm -f /usr/sbin/policy-rc.d
fi

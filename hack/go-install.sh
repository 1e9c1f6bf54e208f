#!/usr/bin/env bash
# go-install.sh TARGET PACKAGE VERSION — installs PACKAGE@VERSION as the file TARGET
# (a versioned name under bin/, so bumping a pin in the Makefile reinstalls it).
set -euo pipefail
target=$1 pkg=$2 version=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" GOFLAGS=-buildvcs=false go install "$pkg@$version"
mkdir -p "$(dirname "$target")"
mv "$tmp"/* "$target"

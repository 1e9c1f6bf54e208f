#!/usr/bin/env bash
# go-install.sh TARGET PACKAGE VERSION — installs PACKAGE@VERSION as the file TARGET
# (a versioned name under bin/, so bumping a pin in the Makefile reinstalls it).
set -euo pipefail
target=$1 pkg=$2 version=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# No symbol table or DWARF (-s -w): these are tools, never debugged here, and leaving
# DWARF out makes their links faster and the binaries smaller.
GOBIN="$tmp" GOFLAGS=-buildvcs=false go install -ldflags "-s -w" "$pkg@$version"
mkdir -p "$(dirname "$target")"
mv "$tmp"/* "$target"

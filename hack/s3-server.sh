#!/usr/bin/env bash
# Builds the pinned S3-compatible server that the storage tests run against (versitygw,
# with its posix backend) from the Go module proxy into bin/versitygw-v<version>/versitygw
# (reused, and cached per user: see hack/cached-go-build.sh). Prints the binary's path on
# its last line.
set -euo pipefail
VERSITYGW_VERSION=${VERSITYGW_VERSION:-1.8.0}
exec "$(dirname "$0")/cached-go-build.sh" versitygw \
  github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION" \
  "-X main.Version=v$VERSITYGW_VERSION"

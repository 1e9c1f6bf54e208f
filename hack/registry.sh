#!/usr/bin/env bash
# Builds the pinned CNCF distribution registry (the reference OCI registry) from the Go
# module proxy into bin/registry-v<version>/registry (reused, and cached per user: see
# hack/cached-go-build.sh). internal/testservers.Registry runs it for tests, such as
# hack/push's, that push and pull images without Docker or the internet. Prints the
# binary's path on its last line.
set -euo pipefail
REGISTRY_VERSION=${REGISTRY_VERSION:-3.1.2}
# The version is stamped so `registry --version` reports it.
exec "$(dirname "$0")/cached-go-build.sh" registry \
  github.com/distribution/distribution/v3/cmd/registry "$REGISTRY_VERSION" \
  "-X github.com/distribution/distribution/v3/version.version=v$REGISTRY_VERSION"

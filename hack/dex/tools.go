//go:build tools

// Package dex only pins github.com/dexidp/dex so that go.sum lists what cmd/dex needs.
package dex

import _ "github.com/dexidp/dex/cmd/dex"

package main

import (
	"testing"

	"github.com/sortographer/sortographer/internal/testservers"
)

// The shared MariaDB and PostgreSQL servers stop when the package's tests end.
func TestMain(m *testing.M) { testservers.Main(m) }

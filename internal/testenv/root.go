package testenv

import (
	"os"
	"testing"
)

// NeedRoot fails the test unless it runs as root, saying why it needs root. Only outside
// CI, and only in `go test -short`, does it skip instead: `make test` runs as root, and a
// CI run that is not root must fail rather than pass having proved nothing.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	msg := "needs root (" + why + "): run make test as root"
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip(msg)
	}
	t.Fatal(msg)
}

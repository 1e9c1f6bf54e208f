package testservers

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/testenv"
)

// ModelDir is the built-in model's folder, from the files hack/model.sh fetches (at
// once when they are there; about 25 s the first time).
func ModelDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join(testenv.RepoRoot(), "hack", "model.sh")).Output()
	if err != nil {
		t.Fatalf("hack/model.sh: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

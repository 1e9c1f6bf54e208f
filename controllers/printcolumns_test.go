package controllers

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// kubectlColumns runs kubectl get galleries in ns with args and returns each Gallery's
// row by name, as column name → value, cut at the header's column starts (a column
// whose value is empty is blank, not shifted).
func kubectlColumns(t *testing.T, ns string, args ...string) map[string]map[string]string {
	t.Helper()
	kubectl := filepath.Join(env.BinDir, "kubectl")
	out, err := exec.Command(kubectl, append([]string{"--kubeconfig", env.Kubeconfig, "get", "galleries", "-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get galleries %v: %v\n%s", args, err, out)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	header := lines[0]
	var names []string
	var starts []int
	for i := 0; i < len(header); {
		if header[i] == ' ' {
			i++
			continue
		}
		end := strings.Index(header[i:], "  ")
		if end < 0 {
			end = len(header) - i
		}
		names, starts = append(names, header[i:i+end]), append(starts, i)
		i += end
	}
	rows := map[string]map[string]string{}
	for _, line := range lines[1:] {
		row := map[string]string{}
		for j, name := range names {
			from, to := min(starts[j], len(line)), len(line)
			if j+1 < len(starts) {
				to = min(starts[j+1], len(line))
			}
			row[name] = strings.TrimSpace(line[from:to])
		}
		rows[row["NAME"]] = row
	}
	return rows
}

// TestKubectlGetShowsEachPhase: `kubectl get galleries` shows a Ready, a Progressing and
// a Failed Gallery as an admin reads them: Ready, phase, URL and the ready server and
// workers; `-o wide` adds the app version and the last backup.
func TestKubectlGetShowsEachPhase(t *testing.T) {
	ns := newNamespace(t)
	named := func(name string) galleryOption { return func(g *galleryv1alpha1.Gallery) { g.Name = name } }
	ready, progressing := newGallery(t, ns, named("ready")), newGallery(t, ns, named("progressing"))
	failed := newGallery(t, ns, named("failed"), withExternalDatabase("not-there"))
	markDeploymentAvailable(t, ns, ready.ServerName())
	markDeploymentAvailable(t, ns, ready.WorkersName())
	markStatefulSetReady(t, ns, ready.RedisName())
	markStatefulSetReady(t, ns, ready.DatabaseName())
	markClaimBound(t, ns, ready.PhotosClaimName())
	for g, phase := range map[*galleryv1alpha1.Gallery]galleryv1alpha1.GalleryPhase{
		ready: galleryv1alpha1.PhaseReady, progressing: galleryv1alpha1.PhaseProgressing, failed: galleryv1alpha1.PhaseFailed,
	} {
		eventually(t, g.Name+" "+string(phase), func() error {
			if p := mustGet(t, g).Status.Phase; p != phase {
				return fmt.Errorf("phase %s", p)
			}
			return nil
		})
	}

	want := map[string]map[string]string{
		ready.Name:       {"READY": "True", "PHASE": "Ready", "URL": mustGet(t, ready).Status.URL, "SERVER": "2/2", "WORKERS": "1/1"},
		progressing.Name: {"READY": "False", "PHASE": "Progressing", "URL": mustGet(t, progressing).Status.URL, "SERVER": "0/2", "WORKERS": "0/1"},
		failed.Name:      {"READY": "False", "PHASE": "Failed", "URL": mustGet(t, failed).Status.URL, "SERVER": "", "WORKERS": ""},
	}
	if want[ready.Name]["URL"] == "" {
		t.Fatal("the Ready Gallery has no status.url")
	}
	for _, wide := range []bool{false, true} {
		var args []string
		if wide {
			args = []string{"-o", "wide"}
		}
		rows := kubectlColumns(t, ns, args...)
		if len(rows) != 3 {
			t.Fatalf("kubectl get galleries %v: %d rows, want 3: %v", args, len(rows), rows)
		}
		for name, cols := range want {
			row := rows[name]
			for col, v := range cols {
				if row[col] != v {
					t.Errorf("%v: %s's %s is %q, want %q (row %v)", args, name, col, row[col], v, row)
				}
			}
			if row["AGE"] == "" {
				t.Errorf("%v: %s has no AGE (row %v)", args, name, row)
			}
			_, hasVersion := row["VERSION"]
			_, hasBackup := row["LAST BACKUP"]
			if hasVersion != wide || hasBackup != wide {
				t.Errorf("%v: VERSION and LAST BACKUP shown: %v %v, want %v", args, hasVersion, hasBackup, wide)
			}
		}
		if wide {
			if v := rows[ready.Name]["VERSION"]; v != galleryv1alpha1.ImageVersion(galleryv1alpha1.DefaultGalleryImage) {
				t.Errorf("-o wide: %s's VERSION is %q, want the default image's", ready.Name, v)
			}
			if v := rows[failed.Name]["VERSION"]; v != "" {
				t.Errorf("-o wide: %s, which runs nothing, shows VERSION %q", failed.Name, v)
			}
		}
	}
}

package podenv

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRemapMovesMountedPathsUnderRoot(t *testing.T) {
	root := t.TempDir()
	ctr := corev1.Container{VolumeMounts: []corev1.VolumeMount{
		{MountPath: "/var/lib/sortographer/photos"}, {MountPath: "/tmp"}, {MountPath: "/etc/sortographer/database-ca"},
	}}
	vars := map[string]string{
		"PHOTOS":   "/var/lib/sortographer/photos",
		"SQLITE":   "/var/lib/sortographer/db/sortographer.db",
		"CA":       "/etc/sortographer/database-ca/ca.pem",
		"LOOKLIKE": "/var/lib/sortographer-other", // a sibling, not under the prefix
		"PLAIN":    "mysql",
		"ADDR":     ":8080",
	}
	if err := Remap(vars, ctr, root, "/var/lib/sortographer"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PHOTOS":   filepath.Join(root, "/var/lib/sortographer/photos"),
		"SQLITE":   filepath.Join(root, "/var/lib/sortographer/db/sortographer.db"),
		"CA":       filepath.Join(root, "/etc/sortographer/database-ca/ca.pem"),
		"LOOKLIKE": "/var/lib/sortographer-other",
		"PLAIN":    "mysql",
		"ADDR":     ":8080",
	}
	if !reflect.DeepEqual(vars, want) {
		t.Fatalf("Remap:\n got %v\nwant %v", vars, want)
	}
	for _, dir := range []string{"/var/lib/sortographer/photos", "/tmp", "/var/lib/sortographer"} {
		if fi, err := os.Stat(filepath.Join(root, dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s not created under root: %v", dir, err)
		}
	}
}

func TestEnvironIsSortedAfterBase(t *testing.T) {
	got := Environ([]string{"PATH=/bin"}, map[string]string{"B": "2", "A": "1"})
	if want := []string{"PATH=/bin", "A=1", "B=2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Environ = %v, want %v", got, want)
	}
}

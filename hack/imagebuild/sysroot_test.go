package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSysrootVipsModulesDir: the modules folder comes from the sysroot's vips.pc, its
// variables expanded, as pkg-config would give it.
func TestSysrootVipsModulesDir(t *testing.T) {
	dir := t.TempDir()
	pc := filepath.Join(dir, "usr", "lib", "aarch64-linux-gnu", "pkgconfig", "vips.pc")
	if err := os.MkdirAll(filepath.Dir(pc), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pc, []byte("prefix=/usr\n# a comment\nlibdir=${prefix}/lib/aarch64-linux-gnu\n\nName: vips\nVersion: 8.14.1\nRequires.private: expat, libjpeg\nLibs: -L${libdir} -lvips\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := sysroot{dir: dir, arch: "arm64"}.vipsModulesDir()
	if err != nil || got != "/usr/lib/aarch64-linux-gnu/vips-modules-8.14" {
		t.Errorf("vipsModulesDir = %q, %v", got, err)
	}
	if _, err := (sysroot{dir: dir, arch: "riscv64"}).vipsModulesDir(); err == nil {
		t.Error("an architecture without a known multiarch folder: no error")
	}
	if _, err := (sysroot{dir: t.TempDir(), arch: "arm64"}).vipsModulesDir(); err == nil || !strings.Contains(err.Error(), "vips.pc") {
		t.Errorf("a sysroot without libvips-dev: error %v", err)
	}
}

// TestSysrootHostPath: a path is found through the sysroot's own links (merged /usr),
// and a link that leads out of the sysroot, to this machine's files, is refused.
func TestSysrootHostPath(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "usr", "lib", "aarch64-linux-gnu")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/lib", filepath.Join(dir, "lib")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib, "libz.so.1.2.13"), []byte("z"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("libz.so.1.2.13", filepath.Join(lib, "libz.so.1")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(lib, "libescape.so.1")); err != nil {
		t.Fatal(err)
	}
	s := sysroot{dir: dir, arch: "arm64"}
	got, err := s.hostPath("/lib/aarch64-linux-gnu/libz.so.1")
	if real, _ := filepath.EvalSymlinks(filepath.Join(lib, "libz.so.1.2.13")); err != nil || got != real {
		t.Errorf("hostPath = %q, %v; want %q", got, err, real)
	}
	if _, err := s.hostPath("/lib/aarch64-linux-gnu/libescape.so.1"); err == nil || !strings.Contains(err.Error(), "leads out of the sysroot") {
		t.Errorf("a link out of the sysroot: error %v", err)
	}
}

func TestExpandOrigin(t *testing.T) {
	got := expandOrigin([]string{"$ORIGIN", "${ORIGIN}/../lib", "/opt/lib", "relative"}, "/usr/lib/sortographer")
	if want := []string{"/usr/lib/sortographer", "/usr/lib/lib", "/opt/lib"}; !slices.Equal(got, want) {
		t.Errorf("expandOrigin = %q, want %q", got, want)
	}
}

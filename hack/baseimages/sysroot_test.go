package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestStageSysroot: a sysroot holds the libraries named with their dependencies and the
// headers named without theirs, with a stamp; staged again with the same index it is
// kept as it is (nothing fetched or unpacked), and when the index has a new version of
// a package it is staged afresh.
func TestStageSysroot(t *testing.T) {
	debs := t.TempDir()
	files := map[string]string{ // pool path → .deb
		"pool/main/l/libvips42/libvips42_1_arm64.deb": fakeDeb(t, debs, "libvips42", []debFile{
			{"/usr/lib/aarch64-linux-gnu/libvips.so.42", "vips", 0o644},
		}),
		"pool/main/g/glib/libglib_1_arm64.deb": fakeDeb(t, debs, "libglib", []debFile{
			{"/usr/lib/aarch64-linux-gnu/libglib-2.0.so.0", "glib", 0o644},
		}),
		"pool/main/l/libvips-dev/libvips-dev_1_arm64.deb": fakeDeb(t, debs, "libvips-dev", []debFile{
			{"/usr/include/vips/vips.h", "#include <glib.h>", 0o644},
			{"/usr/lib/aarch64-linux-gnu/libvips.so", "-> libvips.so.42", 0},
		}),
	}
	var requests atomic.Int32
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if deb, ok := files[strings.TrimPrefix(r.URL.Path, "/debian/")]; ok {
			http.ServeFile(w, r, deb)
			return
		}
		http.NotFound(w, r)
	}))
	defer mirror.Close()
	index := func(vipsVersion string) *packageIndex {
		t.Helper()
		var b strings.Builder
		for _, p := range []struct{ name, version, depends, file string }{
			{"libvips42", vipsVersion, "libglib", "pool/main/l/libvips42/libvips42_1_arm64.deb"},
			{"libglib", "2.74", "", "pool/main/g/glib/libglib_1_arm64.deb"},
			// Its dependencies are not in the index: a header package is taken alone.
			{"libvips-dev", vipsVersion, "libvips42, libglib2.0-dev, libmagickcore-dev", "pool/main/l/libvips-dev/libvips-dev_1_arm64.deb"},
		} {
			content, err := os.ReadFile(files[p.file])
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(content)
			fmt.Fprintf(&b, "Package: %s\nVersion: %s\nArchitecture: arm64\nDepends: %s\nFilename: %s\nSize: %d\nSHA256: %s\n\n",
				p.name, p.version, p.depends, p.file, len(content), hex.EncodeToString(sum[:]))
		}
		idx, err := parseIndex(strings.NewReader(strings.ReplaceAll(b.String(), "Depends: \n", "")))
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	s := debianSuite{mirror: mirror.URL + "/debian", name: "bookworm", arch: "arm64", cache: t.TempDir(), client: mirror.Client()}
	dir := filepath.Join(t.TempDir(), "sysroot-arm64")

	if err := s.stageSysrootFrom(index("8.14.1-3"), dir, []string{"libvips42"}, []string{"libvips-dev"}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"usr/lib/aarch64-linux-gnu/libvips.so.42": "vips",
		"lib/aarch64-linux-gnu/libglib-2.0.so.0":  "glib", // a dependency, through the merged-/usr link
		"usr/include/vips/vips.h":                 "#include <glib.h>",
		"usr/lib/aarch64-linux-gnu/libvips.so":    "vips", // the -dev package's link
		sysrootStamp:                              "libglib=2.74\nlibvips42=8.14.1-3\nlibvips-dev=8.14.1-3\n",
	} {
		if b, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q (%v), want %q", p, b, err, want)
		}
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("%d requests to the mirror, want 3", n)
	}

	// The same index: kept, nothing fetched or unpacked again.
	marker := filepath.Join(dir, "usr", "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.stageSysrootFrom(index("8.14.1-3"), dir, []string{"libvips42"}, []string{"libvips-dev"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the sysroot was staged again for the same packages: %v", err)
	}

	// A new version: staged afresh, with the new stamp, and nothing left beside it.
	if err := s.stageSysrootFrom(index("8.14.1-3+deb12u3"), dir, []string{"libvips42"}, []string{"libvips-dev"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a sysroot for other versions was kept")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, sysrootStamp)); !strings.Contains(string(b), "libvips42=8.14.1-3+deb12u3\n") {
		t.Errorf("stamp %q", b)
	}
	if siblings, _ := os.ReadDir(filepath.Dir(dir)); len(siblings) != 1 {
		t.Errorf("beside the sysroot: %v", siblings)
	}

	// A header package the index lacks is named.
	if err := s.stageSysrootFrom(index("8.14.1-3"), dir, []string{"libvips42"}, []string{"libglib2.0-dev"}); err == nil || !strings.Contains(err.Error(), "libglib2.0-dev is not in the index") {
		t.Errorf("a missing header package: error %v", err)
	}
}

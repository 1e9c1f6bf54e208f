package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIndex is a suite's Packages index in small: Pre-Depends, alternatives, version
// constraints, architecture qualifiers, a virtual package, a cycle and a description
// with continuation lines.
const fakeIndex = `Package: server
Version: 1:11.8.9+ds-0+deb13u1
Architecture: amd64
Depends: common (>= 1:11.8), libc6 (>= 2.38), libfoo2 | libfoo1, perl:any, mail-transport-agent
Pre-Depends: libgcc-s1
Filename: pool/main/s/server/server_11.8.9_amd64.deb
Size: 10
SHA256: aa
Description: a server
 that spans
 .
 lines: not a field

Package: common
Version: 1.0
Architecture: all
Depends: server
Filename: pool/main/c/common/common_1.0_all.deb
Size: 1
SHA256: bb

Package: libc6
Version: 2.41-12
Architecture: amd64
Depends: libgcc-s1
Filename: pool/main/g/glibc/libc6_2.41-12_amd64.deb
Size: 1
SHA256: cc

Package: libgcc-s1
Version: 14.2.0-19
Architecture: amd64
Filename: pool/main/g/gcc/libgcc-s1_14.2.0-19_amd64.deb
Size: 1
SHA256: dd

Package: libfoo1
Version: 1
Architecture: amd64
Filename: pool/main/f/foo/libfoo1_1_amd64.deb
Size: 1
SHA256: ee

Package: perl
Version: 5.40
Architecture: amd64
Filename: pool/main/p/perl/perl_5.40_amd64.deb
Size: 1
SHA256: ff

Package: postfix
Version: 3.10
Architecture: amd64
Provides: mail-transport-agent, default-mta (= 3.10)
Filename: pool/main/p/postfix/postfix_3.10_amd64.deb
Size: 1
SHA256: 11

Package: exim4
Version: 4.98
Architecture: amd64
Provides: mail-transport-agent
Filename: pool/main/e/exim4/exim4_4.98_amd64.deb
Size: 1
SHA256: 22

Package: broken
Version: 1
Architecture: amd64
Depends: libc6, nowhere (>= 2) | nothing
Filename: pool/main/b/broken/broken_1_amd64.deb
Size: 1
SHA256: 33
`

func TestParseIndex(t *testing.T) {
	idx, err := parseIndex(strings.NewReader(fakeIndex))
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.packages) != 9 {
		t.Errorf("%d packages, want 9", len(idx.packages))
	}
	got := idx.packages["server"]
	want := indexPackage{
		name: "server", version: "1:11.8.9+ds-0+deb13u1", arch: "amd64",
		filename: "pool/main/s/server/server_11.8.9_amd64.deb", sha256: "aa", size: 10,
		// Pre-Depends first, though the field came second.
		depends: []string{"libgcc-s1", "common (>= 1:11.8)", "libc6 (>= 2.38)", "libfoo2 | libfoo1", "perl:any", "mail-transport-agent"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("server = %+v, want %+v", got, want)
	}
	if p := idx.providers["mail-transport-agent"]; !reflect.DeepEqual(p, []string{"exim4", "postfix"}) {
		t.Errorf("providers of mail-transport-agent = %q, want exim4 and postfix, sorted", p)
	}
	if p := idx.providers["default-mta"]; !reflect.DeepEqual(p, []string{"postfix"}) {
		t.Errorf("providers of default-mta = %q, want postfix (a versioned Provides)", p)
	}
	if _, err := parseIndex(strings.NewReader("Package: x\nVersion: 1\n")); err == nil {
		t.Error("a package without Filename and SHA256: no error")
	}
}

func TestRelationName(t *testing.T) {
	for rel, want := range map[string]string{
		"libc6":                     "libc6",
		" libc6 (>= 2.38) ":         "libc6",
		"perl:any":                  "perl",
		"python3:native (>= 3.11)":  "python3",
		"libfoo [amd64]":            "libfoo",
		"libbar <!nocheck>":         "libbar",
		"mail-transport-agent(>=1)": "mail-transport-agent",
	} {
		if got := relationName(rel); got != want {
			t.Errorf("relationName(%q) = %q, want %q", rel, got, want)
		}
	}
}

func TestResolveDependencies(t *testing.T) {
	idx, err := parseIndex(strings.NewReader(fakeIndex))
	if err != nil {
		t.Fatal(err)
	}
	names := func(pkgs []indexPackage) []string {
		var out []string
		for _, p := range pkgs {
			out = append(out, p.name)
		}
		return out
	}
	for _, c := range []struct {
		named   []string
		want    []string
		wantErr string
	}{
		// libfoo2 is not in the index, so libfoo1; perl:any is perl; the virtual
		// mail-transport-agent is exim4, its first provider by name; server and common
		// depend on each other.
		{[]string{"server"}, []string{"common", "exim4", "libc6", "libfoo1", "libgcc-s1", "perl", "server"}, ""},
		// A provider already chosen is preferred.
		{[]string{"postfix", "server"}, []string{"common", "libc6", "libfoo1", "libgcc-s1", "perl", "postfix", "server"}, ""},
		{[]string{"libc6", "libc6"}, []string{"libc6", "libgcc-s1"}, ""},
		{[]string{"broken"}, nil, `broken depends on "nowhere (>= 2) | nothing"`},
		{[]string{"missing"}, nil, "package missing is not in the index"},
	} {
		got, err := idx.resolve(c.named)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("resolve(%q) error = %v, want one saying %q", c.named, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(names(got), c.want) {
			t.Errorf("resolve(%q) = %q, %v; want %q", c.named, names(got), err, c.want)
		}
	}
}

func TestReleaseSHA256(t *testing.T) {
	release := []byte("Origin: Debian\nMD5Sum:\n 0123 9679304 main/binary-amd64/Packages.gz\nSHA256:\n" +
		" abcd 56634892 main/binary-amd64/Packages\n be3d 13335627 main/binary-amd64/Packages.gz\n")
	sum, size, err := releaseSHA256(release, "main/binary-amd64/Packages.gz")
	if err != nil || sum != "be3d" || size != 13335627 {
		t.Errorf("releaseSHA256 = %q %d %v, want be3d 13335627 (the SHA256 section's, not MD5Sum's)", sum, size, err)
	}
	if _, _, err := releaseSHA256(release, "main/binary-arm64/Packages.gz"); err == nil {
		t.Error("a file InRelease does not list: no error")
	}
}

// TestFetchChecksSHA256: a .deb is downloaded once into the cache, kept while its sum
// is the index's, fetched again when the cached file is damaged, and refused when the
// mirror serves other bytes than the index describes.
func TestFetchChecksSHA256(t *testing.T) {
	content := []byte("a package")
	var requests atomic.Int32
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path == "/debian/pool/main/p/pkg/pkg_1_amd64.deb" {
			_, _ = w.Write(content)
			return
		}
		http.NotFound(w, r)
	}))
	defer mirror.Close()
	s := debianSuite{mirror: mirror.URL + "/debian", name: "test", arch: "amd64", cache: t.TempDir(), client: mirror.Client()}
	sum := sha256.Sum256(content)
	p := indexPackage{name: "pkg", filename: "pool/main/p/pkg/pkg_1_amd64.deb", sha256: hex.EncodeToString(sum[:]), size: int64(len(content))}

	files, err := s.fetch([]indexPackage{p})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.cache, "pkg_1_amd64.deb"); len(files) != 1 || files[0] != want {
		t.Fatalf("fetch = %q, want %q", files, want)
	}
	if _, err := s.fetch([]indexPackage{p}); err != nil || requests.Load() != 1 {
		t.Errorf("a cached package was fetched again (%d requests, %v)", requests.Load(), err)
	}
	if err := os.WriteFile(files[0], []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.fetch([]indexPackage{p}); err != nil || requests.Load() != 2 {
		t.Errorf("a damaged cached package was not fetched again (%d requests, %v)", requests.Load(), err)
	}
	bad := p
	bad.sha256 = strings.Repeat("0", 64)
	if _, err := s.fetch([]indexPackage{bad}); err == nil || !strings.Contains(err.Error(), "the index says") {
		t.Errorf("a package with another SHA256 than the index's: error %v", err)
	}
	missing := p
	missing.filename = "pool/main/m/missing/missing_1_amd64.deb"
	if _, err := s.fetch([]indexPackage{missing}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a package the mirror lacks: error %v", err)
	}
	entries, _ := os.ReadDir(s.cache)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".download-") {
			t.Errorf("a failed download left %s", e.Name())
		}
	}
}

// debFile is one member of a fake package's data archive: "dir", "-> target" (a
// symlink), "=> /path" (a hard link) or a file's content; mode 0 means 0755.
type debFile struct {
	name, what string
	mode       int64
}

// fakeDeb writes a .deb as dpkg-deb reads it: an ar archive of debian-binary,
// control.tar.gz and data.tar.gz.
func fakeDeb(t *testing.T, dir, pkg string, files []debFile) string {
	t.Helper()
	targz := func(write func(*tar.Writer)) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		tw := tar.NewWriter(zw)
		write(tw)
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	control := targz(func(tw *tar.Writer) {
		c := fmt.Sprintf("Package: %s\nVersion: 1.0\nArchitecture: amd64\nMaintainer: test <test@example.org>\nDescription: test\n", pkg)
		_ = tw.WriteHeader(&tar.Header{Name: "./control", Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(c))
	})
	data := targz(func(tw *tar.Writer) {
		_ = tw.WriteHeader(&tar.Header{Name: "./", Mode: 0o755, Typeflag: tar.TypeDir})
		for _, f := range files {
			h := &tar.Header{Name: "." + f.name, Mode: f.mode}
			if h.Mode == 0 {
				h.Mode = 0o755
			}
			switch {
			case f.what == "dir":
				h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
			case strings.HasPrefix(f.what, "-> "):
				h.Typeflag, h.Linkname = tar.TypeSymlink, strings.TrimPrefix(f.what, "-> ")
			case strings.HasPrefix(f.what, "=> "):
				h.Typeflag, h.Linkname = tar.TypeLink, "."+strings.TrimPrefix(f.what, "=> ")
			default:
				h.Typeflag, h.Size = tar.TypeReg, int64(len(f.what))
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg {
				_, _ = tw.Write([]byte(f.what))
			}
		}
	})
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		data []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", control}, {"data.tar.gz", data}} {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.data))
		ar.Write(m.data)
		if len(m.data)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	file := filepath.Join(dir, pkg+"_1.0_amd64.deb")
	if err := os.WriteFile(file, ar.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// hostFile is a file of this machine, for a fake package that needs a real ELF file.
func hostFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stagedFakeSuite unpacks fake packages like trixie's into a staging root: libc6 with
// this machine's C library and loader, only at /usr paths (/usr/lib64's loader a
// relative link); dash with this machine's dash and its sh link; and "legacy", which
// ships a folder ./bin/ (/bin is merged-/usr's link, and must stay one), a setuid tool,
// a hard link and its copyright file.
func stagedFakeSuite(t *testing.T) (hostTree, *packageDB) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the fake libc6 holds this machine's amd64 libraries")
	}
	dir := t.TempDir()
	pkgs := []indexPackage{
		{name: "dash", arch: "amd64", version: "0.5.12-12"},
		{name: "legacy", arch: "amd64", version: "1:2.0+ds-1"},
		{name: "libc6", arch: "amd64", version: "2.41-12+deb13u5"},
	}
	debs := []string{
		fakeDeb(t, dir, "dash", []debFile{
			{"/usr", "dir", 0}, {"/usr/bin", "dir", 0},
			{"/usr/bin/dash", hostFile(t, "/usr/bin/dash"), 0o755},
			{"/usr/bin/sh", "-> dash", 0},
			{"/usr/share/doc/dash/copyright", "dash's licence", 0o644},
		}),
		fakeDeb(t, dir, "legacy", []debFile{
			{"/bin", "dir", 0},
			{"/bin/tool", "#!/bin/sh\necho tool\n", 0o4755},
			{"/bin/tool-again", "=> /bin/tool", 0},
			{"/usr/share/doc/legacy/copyright", "legacy's licence", 0o644},
		}),
		fakeDeb(t, dir, "libc6", []debFile{
			{"/usr/lib/x86_64-linux-gnu/libc.so.6", hostFile(t, "/usr/lib/x86_64-linux-gnu/libc.so.6"), 0o755},
			{"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", hostFile(t, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), 0o755},
			{"/usr/lib64/ld-linux-x86-64.so.2", "-> ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 0},
			{"/usr/share/doc/libc6/copyright", "libc6's licence", 0o644},
		}),
	}
	h := hostTree{root: filepath.Join(dir, "root")}
	if err := os.Mkdir(h.root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unpackAll(h, pkgs, debs); err != nil {
		t.Fatal(err)
	}
	db, err := readPackageDB(h)
	if err != nil {
		t.Fatal(err)
	}
	return h, db
}

// TestUnpackAll: the packages' files land in the staging root through its merged-/usr
// links, with their permissions and links, and its dpkg database says who owns what.
func TestUnpackAll(t *testing.T) {
	h, db := stagedFakeSuite(t)
	for p, want := range map[string]string{
		"/bin":                            "-> usr/bin",
		"/lib64":                          "-> usr/lib64",
		"/usr/bin/tool":                   "file urwxr-xr-x",
		"/usr/bin/tool-again":             "file urwxr-xr-x",
		"/usr/bin/sh":                     "-> dash",
		"/usr/lib64/ld-linux-x86-64.so.2": "-> ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		"/usr/share/doc/dash/copyright":   "file -rw-r--r--",
	} {
		fi, err := h.lstat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		got := "file " + fi.Mode().String()
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(h.path(p))
			got = "-> " + target
		}
		if got != want {
			t.Errorf("%s is %q, want %q", p, got, want)
		}
	}
	a, _ := os.Stat(h.path("/usr/bin/tool"))
	b, _ := os.Stat(h.path("/usr/bin/tool-again"))
	if !os.SameFile(a, b) {
		t.Error("the hard link is not one")
	}
	for p, want := range map[string]string{
		"/usr/bin/tool":                       "legacy", // listed as /bin/tool
		"/usr/bin/sh":                         "dash",
		"/usr/lib/x86_64-linux-gnu/libc.so.6": "libc6",
		"/usr/bin":                            "", // a folder
	} {
		if got := db.owners[p]; got != want {
			t.Errorf("owner of %s = %q, want %q", p, got, want)
		}
	}
	if got := db.packages["legacy"]; got != (installedPackage{name: "legacy", arch: "amd64", version: "1:2.0+ds-1"}) {
		t.Errorf("legacy is recorded as %+v", got)
	}
	files, err := db.packageFiles(h, "legacy", []string{"/bin"})
	if err != nil || !reflect.DeepEqual(files, []string{"/bin/tool", "/bin/tool-again"}) {
		t.Errorf("legacy's files under /bin = %q, %v", files, err)
	}
}

// TestAssembleFromStagingRoot: an image assembled from a staging root takes the
// commands, the loader and libraries from it, not from this machine, with the packages'
// copyright files, and names its packages from the staging root's database.
func TestAssembleFromStagingRoot(t *testing.T) {
	h, db := stagedFakeSuite(t)
	s := imageSpec{
		file: "staged.tar", ref: "example.org/staged:1", versionPackage: "legacy",
		hostPaths: append(append([]string{}, mergedUsr...), "/bin/sh", "/bin/tool"),
	}
	a, err := assemble(s, h, db, systemLibraryDirs["amd64"])
	if err != nil {
		t.Fatal(err)
	}
	var copied []string
	for _, n := range a.root.names() {
		e := a.root[n]
		if e.src != "" {
			if !strings.HasPrefix(e.src, h.root+"/") {
				t.Errorf("%s is copied from %s, outside the staging root", n, e.src)
			}
			copied = append(copied, n)
		}
	}
	want := []string{
		"/usr/bin/dash", "/usr/bin/tool",
		"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/libc.so.6",
		"/usr/share/doc/dash/copyright", "/usr/share/doc/legacy/copyright", "/usr/share/doc/libc6/copyright",
	}
	sort.Strings(want)
	if !reflect.DeepEqual(copied, want) {
		t.Errorf("copied %q, want %q", copied, want)
	}
	if e := a.root["/usr/lib64/ld-linux-x86-64.so.2"]; e.link != "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" {
		t.Errorf("the loader's link is %+v", e)
	}
	if got, want := packageList(a.packages), "dash=0.5.12-12 legacy=1:2.0+ds-1 libc6=2.41-12+deb13u5"; got != want {
		t.Errorf("packages %q, want %q", got, want)
	}
	l, err := labels(s, a.packages)
	if err != nil {
		t.Fatal(err)
	}
	if l["org.opencontainers.image.version"] != "2.0" {
		t.Errorf("version label %q, want 2.0", l["org.opencontainers.image.version"])
	}
	// The same build twice is the same image.
	digest := func() string {
		img, _, err := build(s, h, db, "amd64", time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	if d1, d2 := digest(), digest(); d1 != d2 {
		t.Errorf("two builds from the staging root: %s and %s", d1, d2)
	}
}

func TestMariaDBNextImageTag(t *testing.T) {
	db := &packageDB{packages: map[string]installedPackage{
		"mariadb-server-core": {name: "mariadb-server-core", arch: "amd64", version: "1:11.8.9+ds-0+deb13u1"},
	}}
	s, err := mariadbNextImage(db)
	if err != nil {
		t.Fatal(err)
	}
	if s.file != "mariadb-next.tar" || s.ref != "docker.io/library/mariadb:11.8" {
		t.Errorf("mariadbNextImage = %s %s, want mariadb-next.tar docker.io/library/mariadb:11.8", s.file, s.ref)
	}
	if _, err := mariadbNextImage(&packageDB{packages: map[string]installedPackage{}}); err == nil {
		t.Error("no mariadb-server-core: no error")
	}
}

package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/sortographer/sortographer/internal/ociarchive"
)

// builtDir holds the archives `run` wrote, as `make images-base` does, once for all
// tests of this package.
var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// archives builds pause.tar, redis.tar and mariadb.tar from this machine's packages and
// a freshly built cmd/pause, and returns their folder.
func archives(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if builtDir, buildErr = os.MkdirTemp("", "baseimages-test-*"); buildErr != nil {
			return
		}
		pause := filepath.Join(builtDir, "pause")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", pause, "../../cmd/pause")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build cmd/pause: %w\n%s", err, b)
			return
		}
		buildErr = run(builtDir, pause, pauseRef, "http://deb.debian.org/debian")
	})
	if buildErr != nil {
		t.Fatalf("build the images (hack/install-deps.sh installs the packages): %v", buildErr)
	}
	return builtDir
}

// openArchive reads one built archive and checks the reference it names.
func openArchive(t *testing.T, file, wantRef string) (v1.Image, *v1.ConfigFile) {
	t.Helper()
	img, annotations, err := ociarchive.Read(filepath.Join(archives(t), file), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"org.opencontainers.image.ref.name", "io.containerd.image.name"} {
		if annotations[k] != wantRef {
			t.Errorf("%s: annotation %s = %q, want %q", file, k, annotations[k], wantRef)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if v := cf.Config.Labels["org.opencontainers.image.version"]; annotations["org.opencontainers.image.version"] != v {
		t.Errorf("%s: version annotation %q, label %q", file, annotations["org.opencontainers.image.version"], v)
	}
	return img, cf
}

// layerHeaders lists the tar headers of the image's filesystem, by path without the
// leading slash.
func layerHeaders(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = h
	}
}

// want is what a path in an image must be: "file", "dir" or "-> target", with
// permissions and owner.
type want struct {
	kind     string
	mode     int64
	uid, gid int
}

// TestImageContents: each archive's image holds what the node needs, at Debian's paths,
// with owners and modes the operator's pods rely on, and only that at the top level;
// its configuration runs it as the pod does.
func TestImageContents(t *testing.T) {
	for _, c := range []struct {
		file, ref string
		topLevel  []string
		paths     map[string]want
		config    v1.Config // without labels
		passwd    string
	}{
		{
			file: "pause.tar", ref: pauseRef,
			topLevel: []string{"pause"},
			paths:    map[string]want{"pause": {"file", 0o755, 0, 0}},
			config:   v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535", Env: []string{defaultPath}},
		},
		{
			file: "redis.tar", ref: redisRef,
			topLevel: []string{"bin", "data", "etc", "lib", "lib64", "sbin", "tmp", "usr"},
			paths: map[string]want{
				"bin":                            {"-> usr/bin", 0o777, 0, 0},
				"lib":                            {"-> usr/lib", 0o777, 0, 0},
				"lib64":                          {"-> usr/lib64", 0o777, 0, 0},
				"usr/lib64/ld-linux-x86-64.so.2": {"-> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 0o777, 0, 0},
				"usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": {"file", 0o755, 0, 0},
				"usr/bin/redis-server":                          {"-> redis-check-rdb", 0o777, 0, 0},
				"usr/bin/redis-check-rdb":                       {"file", 0o755, 0, 0},
				"usr/bin/redis-cli":                             {"file", 0o755, 0, 0},
				"usr/lib/x86_64-linux-gnu/libjemalloc.so.2":     {"file", 0o644, 0, 0},
				"data":                                 {"dir", 0o755, 999, 999},
				"tmp":                                  {"dir", 0o1777, 0, 0},
				"etc/passwd":                           {"file", 0o644, 0, 0},
				"usr/share/doc/redis-server/copyright": {"file", 0o644, 0, 0},
				"usr/share/doc/libc6/copyright":        {"file", 0o644, 0, 0},
				"etc/group":                            {"file", 0o644, 0, 0},
			},
			config: v1.Config{Cmd: []string{"redis-server"}, User: "999:999", WorkingDir: "/data", Env: []string{defaultPath},
				ExposedPorts: map[string]struct{}{"6379/tcp": {}}},
			passwd: "redis:x:999:999:redis:/data:/usr/sbin/nologin\n",
		},
		{
			file: "mariadb.tar", ref: mariadbRef,
			topLevel: []string{"bin", "etc", "lib", "lib64", "run", "sbin", "tmp", "usr", "var"},
			paths: map[string]want{
				"bin":                        {"-> usr/bin", 0o777, 0, 0},
				"usr/bin/sh":                 {"-> dash", 0o777, 0, 0},
				"usr/bin/dash":               {"file", 0o755, 0, 0},
				"usr/bin/sed":                {"file", 0o755, 0, 0},
				"usr/bin/cat":                {"file", 0o755, 0, 0},
				"usr/bin/awk":                {"-> mawk", 0o777, 0, 0},
				"usr/bin/mawk":               {"file", 0o755, 0, 0},
				"usr/sbin/mariadbd":          {"file", 0o755, 0, 0},
				"usr/sbin/mysqld":            {"-> mariadbd", 0o777, 0, 0},
				"usr/bin/mariadb-install-db": {"file", 0o755, 0, 0},
				"usr/bin/my_print_defaults":  {"file", 0o755, 0, 0},
				"usr/bin/resolveip":          {"file", 0o755, 0, 0},
				"usr/bin/mysql":              {"-> mariadb", 0o777, 0, 0},
				"usr/bin/mariadb-admin":      {"file", 0o755, 0, 0},
				"usr/share/mysql/mysql_system_tables.sql":     {"file", 0o644, 0, 0},
				"usr/share/mysql/english/errmsg.sys":          {"file", 0o644, 0, 0},
				"usr/share/mysql/charsets/Index.xml":          {"file", 0o644, 0, 0},
				"usr/share/doc/mariadb-server-core/copyright": {"file", 0o644, 0, 0},
				"usr/share/doc/coreutils/copyright":           {"file", 0o644, 0, 0},
				"etc/mysql/my.cnf":                            {"file", 0o644, 0, 0},
				"var/lib/mysql":                               {"dir", 0o755, 999, 999},
				"run/mysqld":                                  {"dir", 0o755, 999, 999},
				"tmp":                                         {"dir", 0o1777, 0, 0},
			},
			config: v1.Config{Cmd: []string{"mariadbd"}, User: "999:999", Env: []string{defaultPath},
				ExposedPorts: map[string]struct{}{"3306/tcp": {}}},
			passwd: "mysql:x:999:999:mysql:/var/lib/mysql:/usr/sbin/nologin\n",
		},
	} {
		t.Run(c.file, func(t *testing.T) {
			img, cf := openArchive(t, c.file, c.ref)
			headers := layerHeaders(t, img)
			var top []string
			for n, h := range headers {
				if !strings.Contains(n, "/") {
					top = append(top, n)
				}
				if !h.ModTime.Equal(time.Unix(0, 0)) {
					t.Errorf("%s: modified %v, want SOURCE_DATE_EPOCH's default 0", n, h.ModTime)
				}
			}
			sort.Strings(top)
			if !reflect.DeepEqual(top, c.topLevel) {
				t.Errorf("top level %q, want %q", top, c.topLevel)
			}
			checkHeaders(t, headers, c.paths)
			got := cf.Config
			got.Labels = nil
			if !reflect.DeepEqual(got, c.config) {
				t.Errorf("config %+v, want %+v", got, c.config)
			}
			if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
				t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
			}
			if c.passwd != "" {
				passwd := fileContent(t, img, "etc/passwd")
				if !strings.Contains(passwd, "\n"+c.passwd) {
					t.Errorf("/etc/passwd has no line %q:\n%s", c.passwd, passwd)
				}
			}
		})
	}
}

// TestImageLabels: an image made from Debian's packages says which upstream version it
// really holds and every package with its version.
func TestImageLabels(t *testing.T) {
	for _, c := range []struct {
		file, ref, versionPackage string
		packages                  []string // some that must be listed
	}{
		{"redis.tar", redisRef, "redis-server", []string{"redis-server", "redis-tools", "libc6", "libjemalloc2", "libssl3"}},
		{"mariadb.tar", mariadbRef, "mariadb-server-core", []string{"mariadb-server-core", "mariadb-client", "mariadb-client-core", "dash", "coreutils", "sed", "libc6"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			_, cf := openArchive(t, c.file, c.ref)
			out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", c.versionPackage).Output()
			if err != nil {
				t.Fatalf("dpkg-query %s: %v", c.versionPackage, err)
			}
			if got, want := cf.Config.Labels["org.opencontainers.image.version"], upstreamVersion(string(out)); got != want {
				t.Errorf("org.opencontainers.image.version = %q, want %q", got, want)
			}
			listed := " " + cf.Config.Labels["io.sortographer.debian-packages"]
			for _, p := range c.packages {
				if !strings.Contains(listed, " "+p+"=") {
					t.Errorf("io.sortographer.debian-packages lacks %s: %s", p, listed)
				}
			}
			if cf.Config.Labels["org.opencontainers.image.ref.name"] != c.ref {
				t.Errorf("ref.name label %q, want %q", cf.Config.Labels["org.opencontainers.image.ref.name"], c.ref)
			}
		})
	}
}

// fileContent reads one file of the image.
func fileContent(t *testing.T, img v1.Image, name string) string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not found: %v", name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

// TestBuildIsReproducible: building again gives the archive's digest; another
// SOURCE_DATE_EPOCH gives another digest, with every timestamp at it.
func TestBuildIsReproducible(t *testing.T) {
	archived, _ := openArchive(t, "redis.tar", redisRef)
	h := hostTree{root: "/"}
	db, err := readPackageDB(h)
	if err != nil {
		t.Fatal(err)
	}
	digest := func(img v1.Image) v1.Hash {
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	again, _, err := build(redisImage(), h, db, runtime.GOARCH, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if digest(again) != digest(archived) {
		t.Errorf("rebuilt digest %s, archive's %s", digest(again), digest(archived))
	}
	epoch := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	later, _, err := build(redisImage(), h, db, runtime.GOARCH, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if digest(later) == digest(archived) {
		t.Error("another SOURCE_DATE_EPOCH gave the same digest")
	}
	for n, hdr := range layerHeaders(t, later) {
		if !hdr.ModTime.Equal(epoch) {
			t.Errorf("%s: modified %v, want %v", n, hdr.ModTime, epoch)
		}
	}
	cf, err := later.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cf.Created.Equal(epoch) {
		t.Errorf("created %v, want %v", cf.Created.Time, epoch)
	}
}

func TestAccountFiles(t *testing.T) {
	for _, c := range []struct {
		account             *account
		wantPasswd, wantGrp string
	}{
		{nil,
			"root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
			"root:x:0:\nnogroup:x:65534:\n"},
		{&account{name: "redis", id: 999, home: "/data"},
			"root:x:0:0:root:/root:/usr/sbin/nologin\nredis:x:999:999:redis:/data:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
			"root:x:0:\nredis:x:999:\nnogroup:x:65534:\n"},
	} {
		files := map[string]string{}
		for _, e := range accountFiles(c.account) {
			files[e.name] = string(e.data)
		}
		if files["/etc/passwd"] != c.wantPasswd || files["/etc/group"] != c.wantGrp {
			t.Errorf("accountFiles(%+v):\n%s%s\nwant\n%s%s", c.account, files["/etc/passwd"], files["/etc/group"], c.wantPasswd, c.wantGrp)
		}
		if !strings.Contains(files["/etc/nsswitch.conf"], "passwd: files\n") {
			t.Errorf("nsswitch.conf does not read users from files:\n%s", files["/etc/nsswitch.conf"])
		}
	}
}

// TestPauseMustBeStatic: a dynamically linked pause binary is refused, as the image has
// no loader or libc.
func TestPauseMustBeStatic(t *testing.T) {
	dynamic, err := os.ReadFile("/usr/bin/dash")
	if err != nil {
		t.Fatal(err)
	}
	_, err = assemble(pauseImage(dynamic, pauseRef), hostTree{root: "/"}, nil, systemLibraryDirs[runtime.GOARCH])
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("assemble with a dynamic pause binary: error %v, want one that says to build it static", err)
	}
}

// checkHeaders checks that each path of wants is in the layer's headers with the kind,
// mode and owner given.
func checkHeaders(t *testing.T, headers map[string]*tar.Header, wants map[string]want) {
	t.Helper()
	for p, w := range wants {
		h, ok := headers[p]
		if !ok {
			t.Errorf("%s missing", p)
			continue
		}
		kind := map[byte]string{tar.TypeReg: "file", tar.TypeDir: "dir", tar.TypeSymlink: "-> " + h.Linkname}[h.Typeflag]
		if got := (want{kind, h.Mode, h.Uid, h.Gid}); got != w {
			t.Errorf("%s is %v, want %v", p, got, w)
		}
	}
}

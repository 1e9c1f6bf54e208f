// Package setup holds the README's promise to account: on a fresh machine `make test`
// and `make run` do all their own set-up. It checks that every target a newcomer is told
// to run installs the Debian packages before anything else starts, that
// hack/install-deps.sh installs what is missing as root and names the command to run
// otherwise, and that every binary and file the tests look up comes from a package on
// its list.
package setup

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/test/eval"
)

var (
	root          = testenv.RepoRoot()
	installScript = filepath.Join(root, "hack", "install-deps.sh")
)

// TestSetUpComesFirst: the first command `make -n` shows for each target a newcomer
// runs is the package install, so nothing is built before it.
func TestSetUpComesFirst(t *testing.T) {
	for _, target := range []string{"test", "run", "e2e", "bench", "eval"} {
		t.Run(target, func(t *testing.T) {
			cmd := exec.Command("make", "-n", target)
			cmd.Dir = root
			// A make that runs this test must not pass its flags (-n included) on.
			cmd.Env = withoutMakeVariables(os.Environ())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n %s: %v\n%s", target, err, out)
			}
			first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
			if first != "hack/install-deps.sh" {
				t.Fatalf("make -n %s runs %q first, want hack/install-deps.sh; whole plan:\n%s", target, first, out)
			}
		})
	}
}

func withoutMakeVariables(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "MAKEFLAGS" || name == "MFLAGS" || name == "MAKELEVEL" || name == "MAKEFILES"
	})
}

// fakeSystem is a PATH prefix standing in for a machine's dpkg, id, sudo and apt-get, so
// the script can be run as if on a fresh machine without touching this one.
type fakeSystem struct {
	dir    string
	aptLog string
}

func newFakeSystem(t *testing.T, uid int, installed bool, sudoWorks bool) *fakeSystem {
	t.Helper()
	f := &fakeSystem{dir: t.TempDir()}
	f.aptLog = filepath.Join(f.dir, "apt.log")
	status := "exit 1"
	if installed {
		status = `printf 'install ok installed'`
	}
	sudo := "exit 1"
	if sudoWorks {
		sudo = `[ "$1" = -n ] && shift; "$@"`
	}
	scripts := map[string]string{
		"dpkg-query": status,
		"id":         `[ "$1" = -u ] && echo ` + strconv.Itoa(uid),
		"sudo":       sudo,
		"apt-get":    `echo "apt-get $*" >>` + f.aptLog,
		// The real script writes /usr/sbin/policy-rc.d; keep it off this machine.
		"tee":   "cat >/dev/null",
		"chmod": "true",
		"rm":    "true",
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fakeSystem) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{installScript}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+f.dir+":"+os.Getenv("PATH"))
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func (f *fakeSystem) aptCalls(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(f.aptLog)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// scriptPackages reads the package list from hack/install-deps.sh.
func scriptPackages(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(installScript)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^packages=\(([^)]*)\)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("hack/install-deps.sh has no packages=(...) line")
	}
	return strings.Fields(string(m[1]))
}

func TestInstallDeps(t *testing.T) {
	packages := scriptPackages(t)

	t.Run("missing, not root: one line naming the command, nothing installed", func(t *testing.T) {
		f := newFakeSystem(t, 1000, false, false)
		_, stderr, err := f.run(t)
		if err == nil {
			t.Fatal("install-deps.sh succeeded without root and without the packages")
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "sudo hack/install-deps.sh") {
			t.Fatalf("want one line naming sudo hack/install-deps.sh, got:\n%s", stderr)
		}
		for _, p := range packages {
			if !strings.Contains(lines[0], p) {
				t.Errorf("the line does not name the missing package %s: %s", p, lines[0])
			}
		}
		if calls := f.aptCalls(t); calls != "" {
			t.Fatalf("apt-get ran without root:\n%s", calls)
		}
	})

	t.Run("missing, root: apt-get installs every missing package", func(t *testing.T) {
		f := newFakeSystem(t, 0, false, false)
		if _, stderr, err := f.run(t); err != nil {
			t.Fatalf("install-deps.sh as root: %v\n%s", err, stderr)
		}
		calls := strings.Split(strings.TrimSpace(f.aptCalls(t)), "\n")
		if len(calls) != 2 || calls[0] != "apt-get update -qq" {
			t.Fatalf("apt-get calls: %q, want update then install", calls)
		}
		want := "apt-get install -y -qq --no-install-recommends " + strings.Join(packages, " ")
		if calls[1] != want {
			t.Fatalf("install call:\n got %s\nwant %s", calls[1], want)
		}
	})

	t.Run("missing, passwordless sudo: installs through sudo", func(t *testing.T) {
		f := newFakeSystem(t, 1000, false, true)
		if _, stderr, err := f.run(t); err != nil {
			t.Fatalf("install-deps.sh with sudo: %v\n%s", err, stderr)
		}
		if calls := f.aptCalls(t); !strings.Contains(calls, "apt-get install") {
			t.Fatalf("no install through sudo; apt-get calls:\n%s", calls)
		}
	})

	t.Run("dry run prints the commands and runs none", func(t *testing.T) {
		f := newFakeSystem(t, 0, false, false)
		stdout, _, err := f.run(t, "--dry-run")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout, "apt-get install") || f.aptCalls(t) != "" {
			t.Fatalf("dry run printed %q and ran %q", stdout, f.aptCalls(t))
		}
	})

	t.Run("everything present: silent, nothing run", func(t *testing.T) {
		f := newFakeSystem(t, 1000, true, false)
		stdout, stderr, err := f.run(t)
		if err != nil || stdout != "" || stderr != "" || f.aptCalls(t) != "" {
			t.Fatalf("err %v, stdout %q, stderr %q, apt-get %q", err, stdout, stderr, f.aptCalls(t))
		}
	})
}

// TestEveryNeededFileComesFromAListedPackage keeps the list honest: each binary or file
// a test looks up must be owned by a listed package or by one of its direct
// dependencies, so a fresh machine gets it from install-deps.sh.
func TestEveryNeededFileComesFromAListedPackage(t *testing.T) {
	packages := scriptPackages(t)
	provided := map[string]bool{}
	for _, p := range packages {
		provided[p] = true
		out, err := exec.Command("apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", p).Output()
		if err != nil {
			t.Fatalf("apt-cache depends %s: %v", p, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: "); ok {
				provided[strings.Trim(dep, "<>")] = true
			}
		}
	}
	pgInitdb, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	needed := []string{
		"redis-server", "redis-benchmark", "redis-cli", // internal/testservers, make bench
		"mariadb-install-db", "mariadbd", // internal/testservers
		"chromium",                    // internal/web browser tests
		"vipsthumbnail",               // make bench
		"vips", "heif-enc", "avifenc", // internal/imaging's samples; heif-enc in internal/api and builtin too
		"convert-im6.q16", "exiftool", // internal/imaging's samples (ImageMagick by its Debian name)
		"runc", "iptables", "conntrack", // hack/node.sh
		"mariadb-dump", "mariadb", // internal/backup's benchmark reference
		"shellcheck", // make verify
		"jq", "curl", // hack/bench-operator.sh
		"/usr/share/darknet/data/dog.jpg",
		"/usr/lib/python3/dist-packages/skimage/data/coffee.png",
		// internal/classify/tesseract: the photos its signs are drawn on, a printed page,
		// the font, the language data, and the headers its cgo build includes.
		"/usr/share/darknet/data/horses.jpg", "/usr/share/darknet/data/eagle.jpg",
		"/usr/lib/python3/dist-packages/skimage/data/page.png",
		"/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
		"/usr/share/tesseract-ocr/5/tessdata/eng.traineddata", "/usr/share/tesseract-ocr/5/tessdata/kor.traineddata",
		"/usr/include/tesseract/baseapi.h", "/usr/include/leptonica/allheaders.h",
		// cgo's C++ compilers for gosseract, this machine's and arm64's (make images).
		"g++", "aarch64-linux-gnu-g++",
	}
	needed = append(needed, pgInitdb...)
	pgDump, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	if len(pgDump) == 0 {
		t.Error("no /usr/lib/postgresql/*/bin/pg_dump: the postgresql-client package is missing")
	}
	needed = append(needed, pgDump...)
	// libvips for internal/imaging's cgo build and its HEIF/AVIF loader (libvips-dev,
	// and libvips42 it depends on).
	vipsFiles, _ := filepath.Glob("/usr/lib/*/pkgconfig/vips.pc")
	heifModule, _ := filepath.Glob("/usr/lib/*/vips-modules-*/vips-heif.so")
	if len(vipsFiles) == 0 || len(heifModule) == 0 {
		t.Error("no vips.pc or vips-heif.so under /usr/lib: the libvips-dev package is missing")
	}
	needed = append(append(needed, vipsFiles...), heifModule...)
	if len(pgInitdb) == 0 {
		t.Error("no /usr/lib/postgresql/*/bin/initdb: the postgresql package is missing")
	}
	// make eval's photos, each from the package the set names beside it.
	set, err := eval.Load(filepath.Join(root, eval.SetFile))
	if err != nil {
		t.Fatal(err)
	}
	namedBy := map[string]string{}
	for _, p := range set.Photos {
		needed = append(needed, p.Path)
		namedBy[p.Path] = p.Package
	}
	for _, n := range needed {
		path := n
		if !filepath.IsAbs(n) {
			p, err := exec.LookPath(n)
			if err != nil {
				t.Errorf("%s is not on PATH after hack/install-deps.sh", n)
				continue
			}
			path, _ = filepath.EvalSymlinks(p)
		}
		out, err := exec.Command("dpkg", "-S", path).Output()
		if err != nil {
			t.Errorf("%s: no package owns %s (dpkg -S: %v)", n, path, err)
			continue
		}
		owner, _, _ := strings.Cut(strings.TrimSpace(string(out)), ":")
		owner, _, _ = strings.Cut(owner, ",")
		if want := namedBy[n]; want != "" && owner != want {
			t.Errorf("%s: %s says package %s, but %s owns it", n, eval.SetFile, want, owner)
		}
		if !provided[owner] {
			t.Errorf("%s comes from package %s, which hack/install-deps.sh neither lists nor installs as a dependency of %v", n, owner, packages)
		}
	}
}

// TestNodeCheck: `make node-check` (hack/node.sh check), which `make run` and `make test`
// run before building the real node, passes on this machine and, for a user who is not
// root, says in one line why the machine cannot run containers.
func TestNodeCheck(t *testing.T) {
	script := filepath.Join(root, "hack", "node.sh")
	if out, err := exec.Command("bash", script, "check").CombinedOutput(); err != nil {
		t.Fatalf("hack/node.sh check on this machine: %v\n%s", err, out)
	}
	f := newFakeSystem(t, 1000, true, false)
	cmd := exec.Command("bash", script, "check")
	cmd.Env = append(os.Environ(), "PATH="+f.dir+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("hack/node.sh check passed for uid 1000")
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "cannot run containers") || !strings.Contains(lines[0], "root") {
		t.Fatalf("want one line saying why, got:\n%s", out)
	}
}

package main

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// fakeHost is a folder laid out as a merged-/usr Debian root, with what each path is:
// "file", "dir", or "-> target" for a symlink.
func fakeHost(t *testing.T, layout map[string]string) hostTree {
	t.Helper()
	root := t.TempDir()
	names := make([]string, 0, len(layout))
	for n := range layout {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch what := layout[n]; {
		case what == "dir":
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(what, "-> "):
			err = os.Symlink(strings.TrimPrefix(what, "-> "), p)
		default:
			err = os.WriteFile(p, []byte(what), 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return hostTree{root: root}
}

// bookworm is a small merged-/usr root: top-level links into /usr, versioned libraries
// behind their sonames, an absolute link (the loader's), an alternatives chain and a
// relative link that climbs with "..".
var bookworm = map[string]string{
	"/bin":                                  "-> usr/bin",
	"/lib":                                  "-> usr/lib",
	"/lib64":                                "-> usr/lib64",
	"/usr/bin/mawk":                         "file",
	"/usr/bin/awk":                          "-> /etc/alternatives/awk",
	"/etc/alternatives/awk":                 "-> /usr/bin/mawk",
	"/usr/lib/x86_64-linux-gnu/libfoo.so.1": "-> libfoo.so.1.2",
	"/usr/lib/x86_64-linux-gnu/libfoo.so.1.2": "file",
	"/usr/lib/x86_64-linux-gnu/ld.so":         "file",
	"/usr/lib64/ld.so":                        "-> /lib/x86_64-linux-gnu/ld.so",
	"/usr/lib/x86_64-linux-gnu/up":            "-> ../../bin/mawk",
	"/usr/share/data":                         "dir",
	"/loop1":                                  "-> loop2",
	"/loop2":                                  "-> loop1",
	"/dangling":                               "-> nowhere",
}

func TestResolve(t *testing.T) {
	h := fakeHost(t, bookworm)
	for _, c := range []struct {
		path       string
		followLast bool
		want       string
		wantLinks  []string // "name -> target"
		wantErr    bool
	}{
		{"/usr/bin/mawk", false, "/usr/bin/mawk", nil, false},
		{"/bin/mawk", false, "/usr/bin/mawk", []string{"/bin -> usr/bin"}, false},
		{"/lib/x86_64-linux-gnu/libfoo.so.1", false, "/usr/lib/x86_64-linux-gnu/libfoo.so.1", []string{"/lib -> usr/lib"}, false},
		{"/lib/x86_64-linux-gnu/libfoo.so.1", true, "/usr/lib/x86_64-linux-gnu/libfoo.so.1.2",
			[]string{"/lib -> usr/lib", "/usr/lib/x86_64-linux-gnu/libfoo.so.1 -> libfoo.so.1.2"}, false},
		{"/lib64/ld.so", true, "/usr/lib/x86_64-linux-gnu/ld.so",
			[]string{"/lib64 -> usr/lib64", "/usr/lib64/ld.so -> /lib/x86_64-linux-gnu/ld.so", "/lib -> usr/lib"}, false},
		{"/bin/awk", true, "/usr/bin/mawk",
			[]string{"/bin -> usr/bin", "/usr/bin/awk -> /etc/alternatives/awk", "/etc/alternatives/awk -> /usr/bin/mawk"}, false},
		{"/usr/lib/x86_64-linux-gnu/up", true, "/usr/bin/mawk", []string{"/usr/lib/x86_64-linux-gnu/up -> ../../bin/mawk"}, false},
		{"/usr/../../bin/./mawk", false, "/usr/bin/mawk", []string{"/bin -> usr/bin"}, false}, // ".." stops at the root
		{"/loop1", true, "", nil, true},
		{"/loop1", false, "/loop1", nil, false},
		{"/dangling", true, "", nil, true},
		{"/usr/bin/missing", false, "", nil, true},
		{"relative", false, "", nil, true},
	} {
		t.Run(c.path, func(t *testing.T) {
			got, links, err := h.resolve(c.path, c.followLast)
			if (err != nil) != c.wantErr {
				t.Fatalf("resolve(%q, %v) error = %v, want error %v", c.path, c.followLast, err, c.wantErr)
			}
			if err != nil {
				return
			}
			var gotLinks []string
			for _, l := range links {
				gotLinks = append(gotLinks, l.name+" -> "+l.link)
			}
			if got != c.want || !reflect.DeepEqual(gotLinks, c.wantLinks) {
				t.Errorf("resolve(%q, %v) = %q %q, want %q %q", c.path, c.followLast, got, gotLinks, c.want, c.wantLinks)
			}
		})
	}
}

// describe is a root as "path kind" lines: "file", "dir" or "-> target".
func describe(r rootfs) []string {
	var out []string
	for _, n := range r.names() {
		e := r[n]
		switch {
		case e.dir:
			out = append(out, n+" dir")
		case e.link != "":
			out = append(out, n+" -> "+e.link)
		default:
			out = append(out, n+" file")
		}
	}
	return out
}

func TestAddHostPath(t *testing.T) {
	h := fakeHost(t, bookworm)
	for _, c := range []struct {
		path    string
		want    []string
		wantErr bool
	}{
		{"/bin", []string{"/bin -> usr/bin", "/usr/bin dir"}, false},
		{"/bin/awk", []string{
			"/bin -> usr/bin", "/etc/alternatives/awk -> /usr/bin/mawk", "/usr/bin/awk -> /etc/alternatives/awk", "/usr/bin/mawk file",
		}, false},
		{"/lib64/ld.so", []string{
			"/lib -> usr/lib", "/lib64 -> usr/lib64", "/usr/lib/x86_64-linux-gnu/ld.so file", "/usr/lib64/ld.so -> /lib/x86_64-linux-gnu/ld.so",
		}, false},
		{"/lib/x86_64-linux-gnu/libfoo.so.1", []string{
			"/lib -> usr/lib", "/usr/lib/x86_64-linux-gnu/libfoo.so.1 -> libfoo.so.1.2", "/usr/lib/x86_64-linux-gnu/libfoo.so.1.2 file",
		}, false},
		{"/usr/share/data", []string{"/usr/share/data dir"}, false},
		{"/loop1", nil, true},
		{"/dangling", nil, true},
		{"/usr/bin/missing", nil, true},
	} {
		t.Run(c.path, func(t *testing.T) {
			r := rootfs{}
			err := r.addHostPath(h, c.path)
			if (err != nil) != c.wantErr {
				t.Fatalf("addHostPath(%q) error = %v, want error %v", c.path, err, c.wantErr)
			}
			if err == nil && !reflect.DeepEqual(describe(r), c.want) {
				t.Errorf("addHostPath(%q) gave\n%s\nwant\n%s", c.path, strings.Join(describe(r), "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// TestAddHostPathKeepsPermissionsNotOwners: a copied file keeps its permission bits,
// setuid included, and is root-owned whoever owns it here.
func TestAddHostPathKeepsPermissionsNotOwners(t *testing.T) {
	h := fakeHost(t, map[string]string{"/usr/bin/tool": "file"})
	p := h.path("/usr/bin/tool")
	if err := os.Chown(p, 1234, 1234); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o750|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	r := rootfs{}
	if err := r.addHostPath(h, "/usr/bin/tool"); err != nil {
		t.Fatal(err)
	}
	e := r["/usr/bin/tool"]
	if e.mode != 0o750|os.ModeSetuid || e.uid != 0 || e.gid != 0 || e.src != p {
		t.Errorf("entry = mode %v owner %d:%d src %q, want -rwsr-x--- 0:0 %q", e.mode, e.uid, e.gid, e.src, p)
	}
}

func TestAddRejectsADifferentEntryAtTheSamePath(t *testing.T) {
	r := rootfs{}
	if err := r.add(entry{name: "/tmp", dir: true, mode: 0o1777}); err != nil {
		t.Fatal(err)
	}
	if err := r.add(entry{name: "/tmp", dir: true, mode: 0o1777}); err != nil {
		t.Errorf("adding the same folder again: %v", err)
	}
	if err := r.add(entry{name: "/tmp", link: "var/tmp"}); err == nil {
		t.Error("adding a symlink where a folder is: no error")
	}
}

func TestExpandRunpath(t *testing.T) {
	for _, c := range []struct {
		runpath []string
		want    []string
	}{
		{nil, nil},
		{[]string{"/opt/lib"}, []string{"/opt/lib"}},
		{[]string{"$ORIGIN/../lib:/opt/lib"}, []string{"/usr/lib", "/opt/lib"}},
		{[]string{"${ORIGIN}/private"}, []string{"/usr/bin/private"}},
		{[]string{"relative:"}, nil}, // the loader would look in the working folder; nothing to copy
	} {
		if got := expandRunpath(c.runpath, "/usr/bin"); !reflect.DeepEqual(got, c.want) {
			t.Errorf("expandRunpath(%q) = %q, want %q", c.runpath, got, c.want)
		}
	}
}

// elfHeader is the smallest ELF file debug/elf reads: a header of the given class and
// machine, no sections.
func elfHeader(class elf.Class, machine elf.Machine) string {
	size := 64
	if class == elf.ELFCLASS32 {
		size = 52
	}
	b := make([]byte, size)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(class), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	binary.LittleEndian.PutUint16(b[16:], uint16(elf.ET_DYN))
	binary.LittleEndian.PutUint16(b[18:], uint16(machine))
	binary.LittleEndian.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	if class == elf.ELFCLASS32 {
		binary.LittleEndian.PutUint16(b[40:], 52) // e_ehsize
	} else {
		binary.LittleEndian.PutUint16(b[52:], 64)
	}
	return string(b)
}

// TestFindLibrary: the first folder with an ELF object of the right machine and class
// wins, as with the loader, which skips a script, an i386 library and an arm64 one.
func TestFindLibrary(t *testing.T) {
	amd64 := elfHeader(elf.ELFCLASS64, elf.EM_X86_64)
	h := fakeHost(t, map[string]string{
		"/lib":                                  "-> usr/lib",
		"/usr/lib/libz.so.1":                    elfHeader(elf.ELFCLASS32, elf.EM_386),
		"/opt/script/libz.so.1":                 "#!/bin/sh\n",
		"/opt/arm/libz.so.1":                    elfHeader(elf.ELFCLASS64, elf.EM_AARCH64),
		"/usr/lib/x86_64-linux-gnu/libz.so.1":   "-> libz.so.1.3",
		"/usr/lib/x86_64-linux-gnu/libz.so.1.3": amd64,
		"/usr/lib/libonly64.so":                 amd64,
	})
	dirs := append([]string{"/opt/script", "/opt/arm"}, systemLibraryDirs["amd64"]...)
	for _, c := range []struct {
		name, want string
	}{
		{"libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"},
		{"libonly64.so", "/lib/libonly64.so"},
		{"/abs/path.so", "/abs/path.so"},
		{"libmissing.so", ""},
	} {
		got, err := h.findLibrary(c.name, dirs, elf.EM_X86_64, elf.ELFCLASS64)
		if (err != nil) != (c.want == "") || got != c.want {
			t.Errorf("findLibrary(%q) = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

// TestSystemLibraryDirsAreTheLoaders: the folders the images' libraries are looked up in
// are the ones this machine's dynamic loader searches without ld.so.cache, in order.
func TestSystemLibraryDirsAreTheLoaders(t *testing.T) {
	loader := map[string]string{"amd64": "/lib64/ld-linux-x86-64.so.2", "arm64": "/lib/ld-linux-aarch64.so.1"}[runtime.GOARCH]
	out, err := exec.Command(loader, "--help").Output()
	if err != nil {
		t.Fatalf("%s --help: %v", loader, err)
	}
	var dirs []string
	for _, line := range strings.Split(string(out), "\n") {
		if d, ok := strings.CutSuffix(strings.TrimSpace(line), " (system search path)"); ok {
			dirs = append(dirs, d)
		}
	}
	if want := systemLibraryDirs[runtime.GOARCH]; !reflect.DeepEqual(dirs, want) {
		t.Errorf("%s searches %q, systemLibraryDirs says %q", loader, dirs, want)
	}
}

// TestSharedLibrariesAreLdds: for the programs the images run, the libraries found by
// reading their ELF files are exactly the files ldd resolves (symlinks followed).
func TestSharedLibrariesAreLdds(t *testing.T) {
	h := hostTree{root: "/"}
	for _, prog := range []string{"/usr/bin/redis-check-rdb", "/usr/bin/redis-cli", "/usr/sbin/mariadbd", "/usr/bin/mariadb", "/usr/bin/ls", "/usr/bin/dash"} {
		t.Run(path.Base(prog), func(t *testing.T) {
			r := rootfs{}
			if err := r.addHostPath(h, prog); err != nil {
				t.Fatalf("%v (hack/install-deps.sh installs the packages)", err)
			}
			if err := r.addSharedLibraries(h, systemLibraryDirs[runtime.GOARCH]); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range r.names() {
				if e := r[n]; e.regular() && n != prog {
					got = append(got, n)
				}
			}
			out, err := exec.Command("ldd", prog).Output()
			if err != nil {
				t.Fatalf("ldd %s: %v", prog, err)
			}
			var want []string
			for _, line := range strings.Split(string(out), "\n") {
				// "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
				f := strings.Fields(line)
				var p string
				switch {
				case len(f) >= 3 && f[1] == "=>":
					p = f[2]
				case len(f) >= 1 && path.IsAbs(f[0]):
					p = f[0]
				}
				if p == "" {
					continue
				}
				resolved, _, err := h.resolve(p, true)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, resolved)
			}
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("libraries of %s:\n got %q\nldd %q", prog, got, want)
			}
		})
	}
}

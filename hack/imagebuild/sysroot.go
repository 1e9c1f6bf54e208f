package main

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sortographer/sortographer/internal/ociarchive"
)

// A sysroot is a folder that holds another architecture's Debian libraries at their
// paths (hack/baseimages -sysroot stages bookworm's arm64 packages into one). An image
// for that architecture takes its shared libraries from there, found as its dynamic
// loader will find them, since ldd cannot run a foreign loader.

// multiarchTriplets are Debian's library folder names by GOARCH.
var multiarchTriplets = map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}

// sysroot is one such folder, for one architecture.
type sysroot struct {
	dir, arch string
}

// searchPath is where the loader looks for a library that no RUNPATH names: glibc's
// trusted folders for a Debian multiarch system.
func (s sysroot) searchPath() ([]string, error) {
	t, ok := multiarchTriplets[s.arch]
	if !ok {
		return nil, fmt.Errorf("no Debian multiarch folder known for %s", s.arch)
	}
	return []string{"/lib/" + t, "/usr/lib/" + t, "/lib", "/usr/lib"}, nil
}

// hostPath is the file at image path p inside the sysroot, its symlinks resolved; they
// must not lead out of it.
func (s sysroot) hostPath(p string) (string, error) {
	real, err := filepath.EvalSymlinks(filepath.Join(s.dir, filepath.FromSlash(p)))
	if err != nil {
		return "", err
	}
	root, err := filepath.EvalSymlinks(s.dir)
	if err != nil {
		return "", err
	}
	if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return "", fmt.Errorf("%s leads out of the sysroot %s, to %s", p, s.dir, real)
	}
	return real, nil
}

// libraries is the transitive closure of what the ELF files need: each one's loader
// (PT_INTERP) and DT_NEEDED libraries, searched in its DT_RUNPATH (with $ORIGIN) and
// then the search path, at the image path the loader finds them at. elfs maps each
// file's image path to the host file it is built from.
func (s sysroot) libraries(elfs map[string]string) ([]ociarchive.Entry, error) {
	dirs, err := s.searchPath()
	if err != nil {
		return nil, err
	}
	type pending struct{ image, host string }
	var queue []pending
	for image, host := range elfs {
		queue = append(queue, pending{image, host})
	}
	seen := map[string]bool{}
	var out []ociarchive.Entry
	add := func(image string) error {
		if seen[image] {
			return nil
		}
		seen[image] = true
		host, err := s.hostPath(image)
		if err != nil {
			return err
		}
		out = append(out, ociarchive.Entry{Name: image, Mode: 0o755, Src: host})
		queue = append(queue, pending{image, host})
		return nil
	}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		interp, needed, runpath, err := elfDependencies(next.host)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", next.image, err)
		}
		if interp != "" {
			if err := add(interp); err != nil {
				return nil, fmt.Errorf("the loader of %s: %w", next.image, err)
			}
		}
		for _, lib := range needed {
			found := ""
			for _, d := range append(expandOrigin(runpath, path.Dir(next.image)), dirs...) {
				if _, err := os.Stat(filepath.Join(s.dir, filepath.FromSlash(path.Join(d, lib)))); err == nil {
					found = path.Join(d, lib)
					break
				}
			}
			if found == "" {
				return nil, fmt.Errorf("%s needs %s, which is in none of %v of the sysroot %s", next.image, lib, dirs, s.dir)
			}
			if err := add(found); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// expandOrigin is a RUNPATH's folders with $ORIGIN (the folder of the file that names
// it) substituted.
func expandOrigin(runpath []string, origin string) []string {
	out := make([]string, 0, len(runpath))
	for _, d := range runpath {
		d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
		if path.IsAbs(d) {
			out = append(out, path.Clean(d))
		}
	}
	return out
}

// elfDependencies reads an ELF file's loader, DT_NEEDED libraries and DT_RUNPATH (or
// the older DT_RPATH) folders.
func elfDependencies(file string) (interp string, needed, runpath []string, err error) {
	f, err := elf.Open(file)
	if err != nil {
		return "", nil, nil, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return "", nil, nil, err
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, err = f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return "", nil, nil, err
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		v, err := f.DynString(tag)
		if err != nil {
			return "", nil, nil, err
		}
		for _, s := range v {
			runpath = append(runpath, strings.Split(s, ":")...)
		}
		if len(runpath) > 0 {
			break
		}
	}
	return interp, needed, runpath, nil
}

// vipsModulesDir is the folder the sysroot's libvips loads its modules from, read from
// its vips.pc (the sysroot's pkg-config cannot answer: the -dev packages vips.pc
// requires are not in it), as libvipsModulesDir reads this machine's.
func (s sysroot) vipsModulesDir() (string, error) {
	t, ok := multiarchTriplets[s.arch]
	if !ok {
		return "", fmt.Errorf("no Debian multiarch folder known for %s", s.arch)
	}
	pc := filepath.Join(s.dir, "usr", "lib", t, "pkgconfig", "vips.pc")
	vars, err := readPkgConfig(pc)
	if err != nil {
		return "", fmt.Errorf("find the sysroot's libvips modules folder: %w", err)
	}
	return modulesDir(vars["Version"], vars["libdir"])
}

// modulesDir is libvips' vips-modules-MAJOR.MINOR folder in libdir.
func modulesDir(version, libdir string) (string, error) {
	major, rest, ok1 := strings.Cut(version, ".")
	minor, _, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !path.IsAbs(libdir) {
		return "", fmt.Errorf("libvips version %q, libdir %q", version, libdir)
	}
	return path.Join(libdir, "vips-modules-"+major+"."+minor), nil
}

// readPkgConfig reads a .pc file's variables (name=value, with ${name} expanded) and
// fields (Name: value) into one map.
func readPkgConfig(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	expand := func(v string) string {
		return os.Expand(v, func(k string) string { return vars[k] })
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			continue
		}
		vars[strings.TrimSpace(line[:i])] = expand(strings.TrimSpace(line[i+1:]))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(vars) == 0 {
		return nil, fmt.Errorf("%s: %w", file, fs.ErrInvalid)
	}
	return vars, nil
}

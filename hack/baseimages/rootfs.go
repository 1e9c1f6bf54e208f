package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// entry is one file, folder or symlink of an image's root.
type entry struct {
	name     string      // absolute path in the image, no symlink among its folders
	mode     fs.FileMode // permission bits, with setuid, setgid and sticky
	uid, gid int
	dir      bool
	link     string // symlink target, as on this machine
	src      string // this machine's file with the content, when not data
	data     []byte
}

func (e entry) regular() bool { return !e.dir && e.link == "" }

// rootfs is an image's root: its entries by absolute path. Folders that hold an entry but
// are not entries themselves are written root-owned 0755.
type rootfs map[string]entry

// add puts e in the root; adding the same path twice must add the same thing.
func (r rootfs) add(e entry) error {
	if old, ok := r[e.name]; ok {
		if old.dir != e.dir || old.link != e.link || old.src != e.src || !bytes.Equal(old.data, e.data) ||
			old.mode != e.mode || old.uid != e.uid || old.gid != e.gid {
			return fmt.Errorf("%s added twice, differently", e.name)
		}
	}
	r[e.name] = e
	return nil
}

// names lists the root's paths, sorted.
func (r rootfs) names() []string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// final is what the entry at name is, its symlinks followed within the root; an empty
// entry when that leaves the root.
func (r rootfs) final(name string) entry {
	e := r[name]
	for range maxSymlinks {
		if e.link == "" {
			return e
		}
		target := e.link
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(e.name), target)
		}
		e = r[path.Clean(target)]
	}
	return entry{}
}

// maxSymlinks bounds symlinks followed in one lookup, as the kernel's ELOOP does (40).
const maxSymlinks = 40

// hostTree reads this machine's files under root ("/" but in tests), resolving symlinks
// as the kernel would in a chroot to root: an absolute target starts again at root.
type hostTree struct{ root string }

func (h hostTree) path(p string) string { return filepath.Join(h.root, filepath.FromSlash(p)) }

func (h hostTree) lstat(p string) (fs.FileInfo, error) { return os.Lstat(h.path(p)) }

// resolve returns p with every symlink among its folders resolved (and the last
// component's too when followLast), and the symlinks passed on the way, which an image
// needs for p to resolve in it as here. p must exist.
func (h hostTree) resolve(p string, followLast bool) (string, []entry, error) {
	if !path.IsAbs(p) {
		return "", nil, fmt.Errorf("%s is not an absolute path", p)
	}
	var links []entry
	rest := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	cur := "/"
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		fi, err := h.lstat(next)
		if err != nil {
			return "", nil, fmt.Errorf("resolve %s: %w", p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 || (len(rest) == 0 && !followLast) {
			cur = next
			continue
		}
		if len(links) == maxSymlinks {
			return "", nil, fmt.Errorf("resolve %s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(h.path(next))
		if err != nil {
			return "", nil, fmt.Errorf("resolve %s: %w", p, err)
		}
		links = append(links, entry{name: next, mode: 0o777, link: target})
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, links, nil
}

// addHostPath copies p from this machine into the root: a file root-owned with its
// permissions, a folder (without its contents), or a symlink together with what it
// points to; and the symlinks among p's folders (such as bookworm's /lib -> usr/lib), so
// p resolves in the image as here.
func (r rootfs) addHostPath(h hostTree, p string) error {
	for range maxSymlinks {
		name, links, err := h.resolve(p, false)
		if err != nil {
			return err
		}
		for _, l := range links {
			if err := r.add(l); err != nil {
				return err
			}
		}
		fi, err := h.lstat(name)
		if err != nil {
			return err
		}
		e := entry{name: name, mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.link, err = os.Readlink(h.path(name)); err != nil {
				return err
			}
			e.mode = 0o777
		case fi.IsDir():
			e.dir = true
		case fi.Mode().IsRegular():
			e.src = h.path(name)
		default:
			return fmt.Errorf("%s is neither a file, a folder nor a symlink", name)
		}
		if err := r.add(e); err != nil {
			return err
		}
		if e.link == "" {
			return nil
		}
		p = e.link
		if !path.IsAbs(p) {
			p = path.Join(path.Dir(name), p)
		}
	}
	return fmt.Errorf("%s: too many levels of symbolic links", p)
}

// systemLibraryDirs are where the dynamic loader looks for a library without
// /etc/ld.so.cache (which the images leave out), in its order: Debian's glibc, as
// `/lib64/ld-linux-x86-64.so.2 --help` lists under "system search path".
var systemLibraryDirs = map[string][]string{
	"amd64": {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"},
	"arm64": {"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib", "/usr/lib"},
}

// addSharedLibraries adds the loader and the libraries that the root's ELF files need
// (DT_NEEDED, transitively), found where the loader will look for them in the image:
// each object's DT_RUNPATH or DT_RPATH, then libDirs. Libraries loaded with dlopen are
// not found this way; the images need none (their tests run them).
func (r rootfs) addSharedLibraries(h hostTree, libDirs []string) error {
	done := map[string]bool{}
	for {
		var todo []string
		for _, n := range r.names() {
			if e := r[n]; e.regular() && e.src != "" && !done[n] {
				todo = append(todo, n)
			}
		}
		if len(todo) == 0 {
			return nil
		}
		for _, n := range todo {
			done[n] = true
			needs, err := h.elfNeeds(n, libDirs)
			if err != nil {
				return fmt.Errorf("shared libraries of %s: %w", n, err)
			}
			for _, p := range needs {
				if err := r.addHostPath(h, p); err != nil {
					return err
				}
			}
		}
	}
}

// elfNeeds lists the paths an ELF file needs at run time: its loader and its libraries
// as the loader would find them. A file that is not ELF needs nothing.
func (h hostTree) elfNeeds(p string, libDirs []string) ([]string, error) {
	f, err := openELF(h.path(p))
	if f == nil || err != nil {
		return nil, err
	}
	defer f.Close()
	var needs []string
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(prog.Open())
		if err != nil {
			return nil, err
		}
		needs = append(needs, strings.TrimRight(string(b), "\x00"))
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, err
	}
	runpath, _ := f.DynString(elf.DT_RUNPATH)
	if len(runpath) == 0 {
		runpath, _ = f.DynString(elf.DT_RPATH)
	}
	dirs := append(expandRunpath(runpath, path.Dir(p)), libDirs...)
	for _, lib := range libs {
		found, err := h.findLibrary(lib, dirs, f.Machine, f.Class)
		if err != nil {
			return nil, err
		}
		needs = append(needs, found)
	}
	return needs, nil
}

// openELF opens p as an ELF file; nil without error when it is not one (a script).
func openELF(p string) (*elf.File, error) {
	b := make([]byte, 4)
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	_, err = io.ReadFull(f, b)
	f.Close()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || string(b) != elf.ELFMAG {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return elf.Open(p)
}

// expandRunpath splits a DT_RUNPATH (colon-separated) and replaces $ORIGIN with origin,
// the folder of the object that carries it.
func expandRunpath(runpath []string, origin string) []string {
	var dirs []string
	for _, rp := range runpath {
		for _, d := range strings.Split(rp, ":") {
			d = strings.NewReplacer("${ORIGIN}", origin, "$ORIGIN", origin).Replace(d)
			if path.IsAbs(d) {
				dirs = append(dirs, path.Clean(d))
			}
		}
	}
	return dirs
}

// findLibrary is the first dirs/name that is an ELF object of the needing object's
// machine and class, as the loader skips others (i386 libraries in /lib, say).
func (h hostTree) findLibrary(name string, dirs []string, machine elf.Machine, class elf.Class) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, d := range dirs {
		p := path.Join(d, name)
		resolved, _, err := h.resolve(p, true)
		if err != nil {
			continue
		}
		f, err := openELF(h.path(resolved))
		if f == nil || err != nil {
			continue
		}
		ok := f.Machine == machine && f.Class == class
		f.Close()
		if ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("library %s not found in %s", name, strings.Join(dirs, ":"))
}

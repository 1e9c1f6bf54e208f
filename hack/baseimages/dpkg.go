package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
)

// dpkgDir is dpkg's database on a Debian machine.
const dpkgDir = "/var/lib/dpkg"

// installedPackage is a package dpkg has installed.
type installedPackage struct {
	name, arch, version string
}

// packageDB is what dpkg knows about the installed packages: their versions and files.
type packageDB struct {
	packages map[string]installedPackage // by name
	owners   map[string]string           // a file's path, resolved on this machine, to its package
}

// readPackageDB reads dpkg's status file and file lists from h. Each listed path but the
// folders is recorded resolved (bookworm's packages list /lib/x86_64-linux-gnu/libc.so.6, which is
// /usr/lib/x86_64-linux-gnu/libc.so.6 on a merged-/usr system).
func readPackageDB(h hostTree) (*packageDB, error) {
	status, err := os.ReadFile(h.path(path.Join(dpkgDir, "status")))
	if err != nil {
		return nil, fmt.Errorf("read dpkg status: %w", err)
	}
	db := &packageDB{packages: installedPackages(status), owners: map[string]string{}}
	resolvedDirs := map[string]string{}
	for _, name := range db.names() {
		files, err := db.listedFiles(h, name)
		if err != nil {
			return nil, err
		}
		folders := map[string]bool{} // listed paths that hold other listed paths
		for _, f := range files {
			folders[path.Dir(f)] = true
		}
		for _, f := range files {
			if folders[f] {
				continue
			}
			dir, ok := resolvedDirs[path.Dir(f)]
			if !ok {
				dir, _, err = h.resolve(path.Dir(f), true)
				if err != nil {
					dir = "" // a folder the package lists but that is gone
				}
				resolvedDirs[path.Dir(f)] = dir
			}
			if dir == "" {
				continue
			}
			if p := path.Join(dir, path.Base(f)); db.owners[p] == "" {
				db.owners[p] = name
			}
		}
	}
	return db, nil
}

// installedPackages parses dpkg's status file: the packages whose Status is "install ok
// installed".
func installedPackages(status []byte) map[string]installedPackage {
	out := map[string]installedPackage{}
	for _, para := range bytes.Split(status, []byte("\n\n")) {
		var p installedPackage
		var state string
		sc := bufio.NewScanner(bytes.NewReader(para))
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok || strings.HasPrefix(k, " ") {
				continue
			}
			v = strings.TrimSpace(v)
			switch k {
			case "Package":
				p.name = v
			case "Architecture":
				p.arch = v
			case "Version":
				p.version = v
			case "Status":
				state = v
			}
		}
		if p.name != "" && state == "install ok installed" {
			out[p.name] = p
		}
	}
	return out
}

func (db *packageDB) names() []string {
	names := make([]string, 0, len(db.packages))
	for n := range db.packages {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// listedFiles are the paths a package's file list names, as listed (folders included).
// Multi-Arch: same packages keep theirs as NAME:ARCH.list.
func (db *packageDB) listedFiles(h hostTree, name string) ([]string, error) {
	p, ok := db.packages[name]
	if !ok {
		return nil, fmt.Errorf("package %s is not installed (hack/install-deps.sh installs the ones the images need)", name)
	}
	b, err := os.ReadFile(h.path(path.Join(dpkgDir, "info", name+":"+p.arch+".list")))
	if errors.Is(err, fs.ErrNotExist) {
		b, err = os.ReadFile(h.path(path.Join(dpkgDir, "info", name+".list")))
	}
	if err != nil {
		return nil, fmt.Errorf("file list of %s: %w", name, err)
	}
	var files []string
	for _, line := range strings.Split(string(b), "\n") {
		if path.IsAbs(line) && line != "/." {
			files = append(files, line)
		}
	}
	return files, nil
}

// packageFiles are a package's listed paths under one of the folders dirs (as listed:
// "/bin/" matches /bin/dash), that exist here and are not folders.
func (db *packageDB) packageFiles(h hostTree, name string, dirs []string) ([]string, error) {
	files, err := db.listedFiles(h, name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		under := false
		for _, d := range dirs {
			under = under || strings.HasPrefix(f, strings.TrimSuffix(d, "/")+"/")
		}
		if !under {
			continue
		}
		fi, err := h.lstat(f)
		if err != nil || fi.IsDir() {
			continue // diverted away (dash's /bin/sh.distrib), or a folder
		}
		out = append(out, f)
	}
	return out, nil
}

// packagesOf names, sorted, the packages that own the root's files and symlinks copied
// from this machine, and fails on a file that no installed package owns: the images hold
// Debian's packages and nothing picked up elsewhere. (Some symlinks are made by
// maintainer scripts or usrmerge, and belong to no package.)
func (db *packageDB) packagesOf(r rootfs) ([]installedPackage, error) {
	seen := map[string]bool{}
	var out []installedPackage
	for _, n := range r.names() {
		e := r[n]
		if e.dir || (e.link == "" && e.src == "") || r.final(n).dir {
			continue // dpkg lists folders too: /bin is base-files' folder, here a link to one
		}
		owner := db.owners[n]
		if owner == "" && e.link == "" {
			return nil, fmt.Errorf("%s belongs to no installed Debian package", n)
		}
		if owner != "" && !seen[owner] {
			seen[owner] = true
			out = append(out, db.packages[owner])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// upstreamVersion is the upstream part of a Debian version: without the epoch
// ("5:"), the Debian revision ("-1~deb12u10") and the mark of a repacked upstream
// tarball ("+ds", "+dfsg1"), so MariaDB's "1:11.8.9+ds-0+deb13u1" is the 11.8.9 its
// server reports.
func upstreamVersion(v string) string {
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	if i := strings.LastIndex(v, "-"); i > 0 {
		v = v[:i]
	}
	return repackSuffix.ReplaceAllString(v, "")
}

// repackSuffix is how Debian marks an upstream tarball it repacked (files removed).
var repackSuffix = regexp.MustCompile(`[+~](dfsg|ds|repack)[0-9.]*$`)

// packageList is the packages as "name=version" separated by spaces, apt's syntax.
func packageList(pkgs []installedPackage) string {
	s := make([]string, len(pkgs))
	for i, p := range pkgs {
		s[i] = p.name + "=" + p.version
	}
	return strings.Join(s, " ")
}

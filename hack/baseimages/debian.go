package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// A Debian suite other than this machine's (trixie on bookworm) supplies packages that
// are not installed here: its signed index says what they are, they are downloaded into
// a cache and unpacked into a staging root with a dpkg database of their own, and an
// image is then built from that root exactly as from this machine's.

// debianSuite is one suite of a Debian mirror, for one architecture.
type debianSuite struct {
	mirror  string // http://deb.debian.org/debian
	name    string // trixie
	arch    string // Debian's name, which Go's GOARCH is for amd64 and arm64
	keyring string // the archive keys InRelease must be signed with
	cache   string // where InRelease, the index and the .deb files are kept
	client  *http.Client
}

// debianKeyring holds the Debian archive's keys (debian-archive-keyring, which apt
// needs); bookworm's 2023.3+deb12u2 has trixie's.
const debianKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// indexPackage is one paragraph of a suite's Packages index.
type indexPackage struct {
	name, version, arch string
	filename, sha256    string // in the pool, relative to the mirror
	size                int64
	depends             []string // Pre-Depends then Depends, each "a (>= 1) | b"
	provides            []string // virtual package names, without versions
}

// packageIndex is a suite's Packages index: the packages by name, and the packages that
// provide each virtual name.
type packageIndex struct {
	packages  map[string]indexPackage
	providers map[string][]string // sorted
}

// parseIndex reads a Packages index (deb822 paragraphs). A name listed twice keeps its
// first paragraph; Debian's indexes list each package once per architecture.
func parseIndex(r io.Reader) (*packageIndex, error) {
	idx := &packageIndex{packages: map[string]indexPackage{}, providers: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	var p indexPackage
	flush := func() error {
		if p.name == "" {
			return nil
		}
		if p.filename == "" || p.sha256 == "" {
			return fmt.Errorf("index: package %s has no Filename or SHA256", p.name)
		}
		if _, ok := idx.packages[p.name]; !ok {
			idx.packages[p.name] = p
			for _, v := range p.provides {
				idx.providers[v] = append(idx.providers[v], p.name)
			}
		}
		p = indexPackage{}
		return nil
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			continue // a continuation line (Description's)
		}
		v = strings.TrimSpace(v)
		var err error
		switch k {
		case "Package":
			p.name = v
		case "Version":
			p.version = v
		case "Architecture":
			p.arch = v
		case "Filename":
			p.filename = v
		case "SHA256":
			p.sha256 = v
		case "Size":
			p.size, err = strconv.ParseInt(v, 10, 64)
		case "Pre-Depends", "Depends":
			// Pre-Depends comes first in the resolved order whatever the field order.
			groups := splitList(v)
			if k == "Pre-Depends" {
				p.depends = append(groups, p.depends...)
			} else {
				p.depends = append(p.depends, groups...)
			}
		case "Provides":
			for _, g := range splitList(v) {
				p.provides = append(p.provides, relationName(g))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("index: package %s: %s: %w", p.name, k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for _, names := range idx.providers {
		sort.Strings(names)
	}
	return idx, nil
}

// splitList splits a comma-separated relationship field.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// relationName is the package a relation names: "perl:any (>= 5.36) [amd64]" is perl.
// Versions are not compared: a suite's index offers one version of each package.
func relationName(rel string) string {
	name := strings.TrimSpace(rel)
	if i := strings.IndexAny(name, " ([<"); i >= 0 {
		name = name[:i]
	}
	name, _, _ = strings.Cut(name, ":") // :any, :native
	return name
}

// resolve is the packages named and, transitively, their Pre-Depends and Depends, by
// name. Of alternatives ("a | b") the first the index has wins, as a package or through
// a package that provides it; a relation nothing satisfies is an error.
func (idx *packageIndex) resolve(names []string) ([]indexPackage, error) {
	chosen := map[string]bool{}
	var out []indexPackage
	queue := append([]string{}, names...)
	why := map[string]string{}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if chosen[name] {
			continue
		}
		p, ok := idx.packages[name]
		if !ok {
			if why[name] == "" {
				return nil, fmt.Errorf("package %s is not in the index", name)
			}
			return nil, fmt.Errorf("package %s (%s) is not in the index", name, why[name])
		}
		chosen[name] = true
		out = append(out, p)
		for _, group := range p.depends {
			dep := idx.satisfy(group, chosen)
			if dep == "" {
				return nil, fmt.Errorf("%s depends on %q, which no package in the index satisfies", name, group)
			}
			if !chosen[dep] {
				why[dep] = "a dependency of " + name
				queue = append(queue, dep)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// satisfy is the package that satisfies one dependency group: the first alternative
// the index has, or else the first (by name) of its providers, preferring one already
// chosen; "" if none.
func (idx *packageIndex) satisfy(group string, chosen map[string]bool) string {
	for _, alt := range strings.Split(group, "|") {
		name := relationName(alt)
		if _, ok := idx.packages[name]; ok {
			return name
		}
		providers := idx.providers[name]
		for _, p := range providers {
			if chosen[p] {
				return p
			}
		}
		if len(providers) > 0 {
			return providers[0]
		}
	}
	return ""
}

// suiteDir is where a suite's downloads are kept:
// ${SORTOGRAPHER_CACHE:-$HOME/.cache/sortographer}/debs/SUITE.
func suiteDir(suite string) (string, error) {
	cache := os.Getenv("SORTOGRAPHER_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache", "sortographer")
	}
	return filepath.Join(cache, "debs", suite), nil
}

// index fetches the suite's InRelease, checks its signature with gpgv against the
// archive keyring, and returns the Packages index of main for the architecture, checked
// against the SHA256 InRelease gives. The index is kept in the cache and fetched again
// only when InRelease names another. (Packages.gz rather than .xz: Go reads gzip, and xz
// would need xz-utils, which a minimal Debian lacks.)
func (s debianSuite) index() (*packageIndex, error) {
	if err := os.MkdirAll(s.cache, 0o755); err != nil {
		return nil, err
	}
	inRelease := filepath.Join(s.cache, "InRelease")
	if err := s.download("dists/"+s.name+"/InRelease", inRelease, "", -1); err != nil {
		return nil, err
	}
	release, err := exec.Command("gpgv", "--quiet", "--keyring", s.keyring, "--output", "-", inRelease).Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		return nil, fmt.Errorf("verify %s with gpgv and %s: %w\n%s", inRelease, s.keyring, err, stderr)
	}
	name := "main/binary-" + s.arch + "/Packages.gz"
	sum, size, err := releaseSHA256(release, name)
	if err != nil {
		return nil, fmt.Errorf("%s InRelease: %w", s.name, err)
	}
	file := filepath.Join(s.cache, "Packages-"+s.arch+".gz")
	if err := s.download("dists/"+s.name+"/"+name, file, sum, size); err != nil {
		return nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return parseIndex(zr)
}

// releaseSHA256 is the SHA256 and size a Release file gives for one of its files.
func releaseSHA256(release []byte, name string) (string, int64, error) {
	in := false
	for _, line := range strings.Split(string(release), "\n") {
		if !strings.HasPrefix(line, " ") {
			in = line == "SHA256:"
			continue
		}
		f := strings.Fields(line)
		if in && len(f) == 3 && f[2] == name {
			size, err := strconv.ParseInt(f[1], 10, 64)
			return f[0], size, err
		}
	}
	return "", 0, fmt.Errorf("no SHA256 for %s", name)
}

// download fetches mirror/rel into file unless file already has the SHA256 sum; with
// a sum, what it fetched must have it (and size bytes). Without one (InRelease, whose
// signature is checked instead), it always fetches.
func (s debianSuite) download(rel, file, sum string, size int64) error {
	if sum != "" {
		if got, err := fileSHA256(file); err == nil && got == sum {
			return nil
		}
	}
	url := strings.TrimSuffix(s.mirror, "/") + "/" + rel
	resp, err := s.client.Get(url)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download %s: %s", url, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); sum != "" && (got != sum || (size >= 0 && n != size)) {
		return fmt.Errorf("download %s: %d bytes with SHA256 %s, the index says %d bytes with %s", url, n, got, size, sum)
	}
	return os.Rename(tmp.Name(), file)
}

// fileSHA256 is the hex SHA256 of a file's content.
func fileSHA256(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fetch downloads the packages' .deb files into the cache (each checked against the
// index's SHA256; one already there with the right sum is kept) and returns their paths.
func (s debianSuite) fetch(pkgs []indexPackage) ([]string, error) {
	files := make([]string, len(pkgs))
	for i, p := range pkgs {
		files[i] = filepath.Join(s.cache, path.Base(p.filename))
		if err := s.download(p.filename, files[i], p.sha256, p.size); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// stage unpacks the named packages of the suite and their dependencies into a new
// staging root under parent, with bookworm's and trixie's merged-/usr links and a dpkg
// database listing the packages' files (so readPackageDB reads it as this machine's).
// Maintainer scripts are not run: the image needs the packages' files, and makes the rest.
func (s debianSuite) stage(names []string, parent string) (hostTree, error) {
	idx, err := s.index()
	if err != nil {
		return hostTree{}, err
	}
	pkgs, err := idx.resolve(names)
	if err != nil {
		return hostTree{}, fmt.Errorf("%s: %w", s.name, err)
	}
	debs, err := s.fetch(pkgs)
	if err != nil {
		return hostTree{}, err
	}
	root, err := os.MkdirTemp(parent, "baseimages-"+s.name+"-*")
	if err != nil {
		return hostTree{}, err
	}
	h := hostTree{root: root}
	if err := unpackAll(h, pkgs, debs); err != nil {
		os.RemoveAll(root)
		return hostTree{}, err
	}
	return h, nil
}

// unpackAll makes a merged-/usr root in h and unpacks each package's .deb into it,
// recording it in the root's dpkg database as installed.
func unpackAll(h hostTree, pkgs []indexPackage, debs []string) error {
	if err := os.Chmod(h.root, 0o755); err != nil {
		return err
	}
	for _, link := range mergedUsr {
		if err := os.MkdirAll(h.path("/usr"+link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("usr"+link, h.path(link)); err != nil {
			return err
		}
	}
	info := h.path(path.Join(dpkgDir, "info"))
	if err := os.MkdirAll(info, 0o755); err != nil {
		return err
	}
	var status bytes.Buffer
	for i, p := range pkgs {
		listed, err := unpackDeb(h, debs[i])
		if err != nil {
			return fmt.Errorf("unpack %s: %w", debs[i], err)
		}
		if err := os.WriteFile(filepath.Join(info, p.name+".list"), []byte(strings.Join(listed, "\n")+"\n"), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nArchitecture: %s\nVersion: %s\n\n", p.name, p.arch, p.version)
	}
	return os.WriteFile(h.path(path.Join(dpkgDir, "status")), status.Bytes(), 0o644)
}

// unpackDeb extracts a .deb's files into h's root as dpkg would: through the root's
// symlinked folders (a package's ./lib/ lands in usr/lib when /lib -> usr/lib), which
// it keeps, with each file's permissions (owners are left to the image). It returns the
// paths as dpkg's file list has them. dpkg-deb reads the package, whatever compresses it.
func unpackDeb(h hostTree, deb string) ([]string, error) {
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	listed, err := extractTar(h, out)
	if err != nil {
		_, _ = io.Copy(io.Discard, out)
	}
	if werr := cmd.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("dpkg-deb --fsys-tarfile: %w: %s", werr, strings.TrimSpace(stderr.String()))
	}
	return listed, err
}

// extractTar writes a package's data archive into h's root; see unpackDeb.
func extractTar(h hostTree, r io.Reader) ([]string, error) {
	var listed []string
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return listed, nil
		}
		if err != nil {
			return nil, err
		}
		name := path.Clean("/" + hdr.Name)
		if name == "/" {
			listed = append(listed, "/.")
			continue
		}
		listed = append(listed, name)
		dir, err := h.makeDirs(path.Dir(name))
		if err != nil {
			return nil, err
		}
		target := h.path(path.Join(dir, path.Base(name)))
		mode := hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if fi, err := os.Stat(target); err == nil && fi.IsDir() {
				continue // made by another package, or a merged-/usr link to keep
			}
			err = os.Mkdir(target, 0o755)
		case tar.TypeReg:
			err = writeFile(target, tr)
		case tar.TypeSymlink:
			if err = removeNonDir(target); err == nil {
				err = os.Symlink(hdr.Linkname, target)
			}
		case tar.TypeLink:
			var src string
			if src, _, err = h.resolve(path.Clean("/"+hdr.Linkname), false); err == nil {
				if err = removeNonDir(target); err == nil {
					err = os.Link(h.path(src), target)
				}
			}
		default:
			err = fmt.Errorf("unexpected tar entry type %c", hdr.Typeflag)
		}
		if err == nil && hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeLink {
			err = os.Chmod(target, mode)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
}

// writeFile replaces file with r's content.
func writeFile(file string, r io.Reader) error {
	if err := removeNonDir(file); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeNonDir removes what is at p unless nothing is or it is a folder (which the
// caller's create then fails on).
func removeNonDir(p string) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.IsDir()) {
		return nil
	}
	if err != nil {
		return err
	}
	return os.Remove(p)
}

// makeDirs is folder p of h's root with its symlinks resolved as in a chroot, made
// (0755) where missing.
func (h hostTree) makeDirs(p string) (string, error) {
	if resolved, _, err := h.resolve(p, true); err == nil {
		return resolved, nil
	}
	if p == "/" {
		return "", fmt.Errorf("root %s is missing", h.root)
	}
	parent, err := h.makeDirs(path.Dir(p))
	if err != nil {
		return "", err
	}
	dir := path.Join(parent, path.Base(p))
	if err := os.Mkdir(h.path(dir), 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

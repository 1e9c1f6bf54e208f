package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A sysroot is another architecture's libraries and headers from this machine's Debian
// release (bookworm's arm64 packages on an amd64 machine), unpacked as the staging
// roots of debian.go are: the gallery is cross-built against its headers and libraries
// (cgo with libvips), and hack/imagebuild -sysroot takes the image's shared libraries
// from it.

// sysrootStamp, in a sysroot, lists its packages as name=version lines: a sysroot whose
// stamp lists what the index gives now is kept as it is.
const sysrootStamp = ".sortographer-sysroot"

// stageSysroot makes dir a staging root of suite s's packages: libs and the closure of
// their Pre-Depends and Depends, and headers alone (a -dev package's own dependencies
// are other -dev packages, which compiling against libvips does not need; the libraries
// they point at come with libs).
func stageSysroot(s debianSuite, dir string, libs, headers []string) error {
	idx, err := s.index()
	if err != nil {
		return err
	}
	return s.stageSysrootFrom(idx, dir, libs, headers)
}

// stageSysrootFrom is stageSysroot with the suite's index read.
func (s debianSuite) stageSysrootFrom(idx *packageIndex, dir string, libs, headers []string) error {
	pkgs, err := idx.resolve(libs)
	if err != nil {
		return fmt.Errorf("%s %s: %w", s.name, s.arch, err)
	}
	for _, name := range headers {
		p, ok := idx.packages[name]
		if !ok {
			return fmt.Errorf("%s %s: package %s is not in the index", s.name, s.arch, name)
		}
		pkgs = append(pkgs, p)
	}
	var stamp bytes.Buffer
	for _, p := range pkgs {
		fmt.Fprintf(&stamp, "%s=%s\n", p.name, p.version)
	}
	if old, err := os.ReadFile(filepath.Join(dir, sysrootStamp)); err == nil && bytes.Equal(old, stamp.Bytes()) {
		return nil
	}
	debs, err := s.fetch(pkgs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := unpackAll(hostTree{root: tmp}, pkgs, debs); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, sysrootStamp), stamp.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// machineSuite is this machine's Debian release (VERSION_CODENAME in /etc/os-release).
func machineSuite() (string, error) {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok && strings.Trim(v, `"`) != "" {
			return strings.Trim(v, `"`), nil
		}
	}
	return "", fmt.Errorf("/etc/os-release names no VERSION_CODENAME")
}

// runSysroot stages the sysroot of `baseimages -sysroot`.
func runSysroot(dir, arch, mirror string, libs, headers []string) error {
	start := time.Now()
	name, err := machineSuite()
	if err != nil {
		return err
	}
	cache, err := suiteDir(name)
	if err != nil {
		return err
	}
	s := debianSuite{
		mirror: mirror, name: name, arch: arch, keyring: debianKeyring, cache: cache,
		client: &http.Client{Timeout: 10 * time.Minute},
	}
	if err := stageSysroot(s, dir, libs, headers); err != nil {
		return err
	}
	fmt.Printf("%s: %s %s sysroot in %.1fs\n", dir, name, arch, time.Since(start).Seconds())
	return nil
}

// Command baseimages builds the images a real node of the local cluster needs and cannot
// pull, having no registry: the pod sandbox (pause), Redis and MariaDB, as OCI image
// archives that `ctr -n k8s.io images import` reads, each named after the reference the
// kubelet asks for.
//
//	baseimages -o dist/images -pause dist/bin/pause
//
// writes pause.tar (registry.k8s.io/pause:3.10: the static cmd/pause binary),
// redis.tar (docker.io/library/redis:7.4-alpine), mariadb.tar
// (docker.io/library/mariadb:11.4) and mariadb-next.tar (below), the middle two
// assembled from the Debian packages installed on this machine (hack/install-deps.sh
// installs them): the tags are the operator's defaults, so a `spec: {}` Gallery uses
// them unchanged, while the label org.opencontainers.image.version says what is really
// inside (Debian bookworm's Redis 7.0 and MariaDB 10.11) and
// io.sortographer.debian-packages lists the packages.
//
// Each root holds the named commands, what their symlinks point to, and the transitive
// closure of their shared libraries as the dynamic loader will find them in the image
// (DT_NEEDED, read from the ELF files; no ld.so.cache), with bookworm's merged-/usr
// links (/lib -> usr/lib) and Debian's paths and symlinks kept, and each package's
// copyright file. Every copied file must belong to an installed package; the images have
// no entrypoint scripts (the operator's pod specs give the commands). Builds are
// reproducible: every timestamp is $SOURCE_DATE_EPOCH (default 0), and copied files are
// root-owned with their permissions.
//
// mariadb-next.tar (docker.io/library/mariadb:11.8, the major.minor of what is inside) is
// the newer MariaDB that upgrade tests move a database to: bookworm has only 10.11, so
// it comes from Debian trixie's packages, which are not installed but unpacked (debian.go):
// trixie's signed InRelease (gpgv, debian-archive-keyring) gives its Packages index, the
// named packages' Depends and Pre-Depends closure is downloaded into
// ${SORTOGRAPHER_CACHE:-~/.cache/sortographer}/debs/trixie (each .deb checked against the
// index's SHA256, and kept), and unpacked with a dpkg database into a temporary staging
// root, which the image is then assembled from as the others are from this machine.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sortographer/sortographer/internal/ociarchive"
)

func main() {
	out := flag.String("o", "dist/images", "folder the archives are written to")
	pauseBinary := flag.String("pause", "", "the static pause binary (CGO_ENABLED=0 go build ./cmd/pause)")
	pauseReference := flag.String("pause-ref", pauseRef, "reference of the pause image (containerd's pinned sandbox image)")
	mirror := flag.String("debian-mirror", "http://deb.debian.org/debian", "Debian mirror the packages of mariadb-next.tar and -sysroot come from")
	sysroot := flag.String("sysroot", "", "instead of images, stage this folder as a sysroot of this machine's Debian release for -sysroot-arch: the packages named as arguments with their dependencies, and -sysroot-headers alone")
	sysrootArch := flag.String("sysroot-arch", "arm64", "the sysroot's Debian architecture")
	sysrootHeaders := flag.String("sysroot-headers", "", "comma-separated -dev packages the sysroot takes without their dependencies")
	flag.Parse()
	if *sysroot != "" {
		var headers []string
		if *sysrootHeaders != "" {
			headers = strings.Split(*sysrootHeaders, ",")
		}
		if err := runSysroot(*sysroot, *sysrootArch, *mirror, flag.Args(), headers); err != nil {
			fmt.Fprintln(os.Stderr, "baseimages:", err)
			os.Exit(1)
		}
		return
	}
	if *pauseBinary == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *pauseBinary, *pauseReference, *mirror); err != nil {
		fmt.Fprintln(os.Stderr, "baseimages:", err)
		os.Exit(1)
	}
}

// run builds the four archives into folder out and reports each.
func run(out, pauseBinary, pauseReference, mirror string) error {
	start := time.Now()
	epoch, err := ociarchive.SourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	binary, err := os.ReadFile(pauseBinary)
	if err != nil {
		return fmt.Errorf("read pause binary: %w", err)
	}
	host := hostTree{root: "/"}
	db, err := readPackageDB(host)
	if err != nil {
		return err
	}
	for _, s := range []imageSpec{pauseImage(binary, pauseReference), redisImage(), mariadbImage()} {
		if err := write(out, s, host, db, epoch, time.Now()); err != nil {
			return err
		}
	}
	if err := writeMariaDBNext(out, mirror, epoch); err != nil {
		return err
	}
	fmt.Printf("built in %.1fs\n", time.Since(start).Seconds())
	return nil
}

// writeMariaDBNext builds mariadb-next.tar from mariadbNextSuite's packages, fetched
// into the cache and unpacked into a temporary staging root; the time it reports
// includes that.
func writeMariaDBNext(out, mirror string, epoch time.Time) error {
	start := time.Now()
	cache, err := suiteDir(mariadbNextSuite)
	if err != nil {
		return err
	}
	suite := debianSuite{
		mirror: mirror, name: mariadbNextSuite, arch: runtime.GOARCH, keyring: debianKeyring, cache: cache,
		client: &http.Client{Timeout: 10 * time.Minute},
	}
	staged, err := suite.stage(mariadbNextPackages, "")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staged.root)
	db, err := readPackageDB(staged)
	if err != nil {
		return err
	}
	s, err := mariadbNextImage(db)
	if err != nil {
		return err
	}
	return write(out, s, staged, db, epoch, start)
}

// write builds one image from root h (with its package database db), writes its
// archive into folder out, and reports it with the time since start.
func write(out string, s imageSpec, h hostTree, db *packageDB, epoch, start time.Time) error {
	img, annotations, err := build(s, h, db, runtime.GOARCH, epoch)
	if err != nil {
		return err
	}
	archive := filepath.Join(out, s.file)
	if err := ociarchive.Write(archive, s.ref, img, annotations); err != nil {
		return err
	}
	return report(archive, s.ref, img, time.Since(start))
}

// report prints an archive's path, reference, digest, size on disk (the compressed layer
// and a few small JSON documents), its root's size unpacked, and how long it took.
func report(archive, ref string, img v1.Image, took time.Duration) error {
	fi, err := os.Stat(archive)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var unpacked int64
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
		unpacked += n
	}
	fmt.Printf("%s %s %s: %.1f MB compressed, %.1f MB unpacked, %.1fs\n",
		archive, ref, digest, float64(fi.Size())/1e6, float64(unpacked)/1e6, took.Seconds())
	return nil
}

// Command baseimages builds the images a real node of the local cluster needs and cannot
// pull, having no registry: the pod sandbox (pause), Redis and MariaDB, as OCI image
// archives that `ctr -n k8s.io images import` reads, each named after the reference the
// kubelet asks for.
//
//	baseimages -o dist/images -pause dist/bin/pause
//
// writes pause.tar (registry.k8s.io/pause:3.10: the static cmd/pause binary),
// redis.tar (docker.io/library/redis:7.4-alpine) and mariadb.tar
// (docker.io/library/mariadb:11.4), the last two assembled from the Debian packages
// installed on this machine (hack/install-deps.sh installs them): the tags are the
// operator's defaults, so a `spec: {}` Gallery uses them unchanged, while the label
// org.opencontainers.image.version says what is really inside (Debian bookworm's Redis
// 7.0 and MariaDB 10.11) and io.sortographer.debian-packages lists the packages.
//
// Each root holds the named commands, what their symlinks point to, and the transitive
// closure of their shared libraries as the dynamic loader will find them in the image
// (DT_NEEDED, read from the ELF files; no ld.so.cache), with bookworm's merged-/usr
// links (/lib -> usr/lib) and Debian's paths and symlinks kept, and each package's
// copyright file. Every copied file must belong to an installed package; the images have
// no entrypoint scripts (the operator's pod specs give the commands). Builds are
// reproducible: every timestamp is $SOURCE_DATE_EPOCH (default 0), and copied files are
// root-owned with their permissions.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sortographer/sortographer/internal/ociarchive"
)

func main() {
	out := flag.String("o", "dist/images", "folder the archives are written to")
	pauseBinary := flag.String("pause", "", "the static pause binary (CGO_ENABLED=0 go build ./cmd/pause)")
	pauseReference := flag.String("pause-ref", pauseRef, "reference of the pause image (containerd's pinned sandbox image)")
	flag.Parse()
	if *pauseBinary == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *pauseBinary, *pauseReference); err != nil {
		fmt.Fprintln(os.Stderr, "baseimages:", err)
		os.Exit(1)
	}
}

// run builds the three archives into folder out and reports each.
func run(out, pauseBinary, pauseReference string) error {
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
		t := time.Now()
		img, annotations, err := build(s, host, db, runtime.GOARCH, epoch)
		if err != nil {
			return err
		}
		archive := filepath.Join(out, s.file)
		if err := ociarchive.Write(archive, s.ref, img, annotations); err != nil {
			return err
		}
		if err := report(archive, s.ref, img, time.Since(t)); err != nil {
			return err
		}
	}
	fmt.Printf("built in %.1fs\n", time.Since(start).Seconds())
	return nil
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

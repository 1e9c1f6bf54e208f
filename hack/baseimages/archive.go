package main

import (
	"compress/gzip"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sortographer/sortographer/internal/ociarchive"
)

// ociImage is an OCI image of the root as one layer with the given configuration. The
// layer is gzipped at gzip's default level: on the MariaDB layer (91 MB) level 9 saved
// 0.1 MB of 28.3 MB and took 27.6 s instead of 4.4 s.
func ociImage(r rootfs, cfg v1.Config, arch, comment string, epoch time.Time) (v1.Image, error) {
	entries := make([]ociarchive.Entry, 0, len(r))
	for _, n := range r.names() {
		e := r[n]
		entries = append(entries, ociarchive.Entry{
			Name: e.name, Mode: e.mode, UID: e.uid, GID: e.gid, Dir: e.dir, Link: e.link, Src: e.src, Data: e.data,
		})
	}
	layers := []ociarchive.Layer{{Comment: comment, Entries: entries}}
	return ociarchive.Image(layers, cfg, arch, "hack/baseimages", epoch, gzip.DefaultCompression)
}
